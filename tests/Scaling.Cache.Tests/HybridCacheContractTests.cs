using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Scaling.Testing;

namespace Scaling.Cache.Tests;

/// <summary>
/// What code written for <see cref="HybridCache"/> may count on, run against Microsoft's own implementation
/// (<see cref="DefaultHybridCacheContractTests"/>) and against <see cref="TwoTierCache"/>
/// (<see cref="TwoTierCacheContractTests"/>), both on the test Redis: so <see cref="TwoTierCache"/> is a drop-in,
/// including for invalid keys, which are logged and bypassed rather than thrown.
/// </summary>
public abstract class HybridCacheContractTests : IAsyncLifetime
{
    /// <summary>The longest key both caches under test accept (Microsoft's default is 1024, ours 512).</summary>
    protected const int MaxKeyLength = 512;

    private readonly string _space = Guid.NewGuid().ToString("N")[..8];

    public static TheoryData<string> InvalidKeys => new()
    {
        new string('k', MaxKeyLength + 1),
        "control\u0001character",
        "line\nbreak",
    };

    protected HybridCache Cache { get; private set; } = null!;

    public async Task InitializeAsync() => Cache = await CreateAsync();

    public abstract Task DisposeAsync();

    /// <summary>A cache over the test Redis whose keys may be at most <see cref="MaxKeyLength"/> characters.</summary>
    protected abstract Task<HybridCache> CreateAsync();

    [Theory]
    [MemberData(nameof(InvalidKeys))]
    public async Task An_invalid_key_bypasses_the_cache_and_every_call_gets_the_factorys_own_result(string key)
    {
        var factory = new CountingFactory<int>(n => n);

        Assert.Equal(1, await Cache.GetOrCreateAsync(key, factory.InvokeAsync));
        Assert.Equal(2, await Cache.GetOrCreateAsync(key, factory.InvokeAsync));
        await Cache.SetAsync(key, 99);
        Assert.Equal(3, await Cache.GetOrCreateAsync(key, factory.InvokeAsync));
        await Cache.RemoveAsync(key);
        Assert.Equal(4, await Cache.GetOrCreateAsync(key, factory.InvokeAsync, tags: ["contract-tag"]));
        Assert.Equal(4, factory.Calls);
    }

    [Fact]
    public async Task GetOrCreateAsync_caches_the_factorys_result()
    {
        var factory = new CountingFactory<string>(n => "made-" + n);

        Assert.Equal("made-1", await Cache.GetOrCreateAsync(Key("made"), factory.InvokeAsync));
        Assert.Equal("made-1", await Cache.GetOrCreateAsync(Key("made"), factory.InvokeAsync));
        Assert.Equal(1, factory.Calls);
    }

    [Fact]
    public async Task SetAsync_then_GetOrCreateAsync_gets_the_value_without_the_factory()
    {
        var factory = new CountingFactory<int>(n => -n);

        await Cache.SetAsync(Key("answer"), 42);
        Assert.Equal(42, await Cache.GetOrCreateAsync(Key("answer"), factory.InvokeAsync));
        await Cache.SetAsync(Key("answer"), 43);
        Assert.Equal(43, await Cache.GetOrCreateAsync(Key("answer"), factory.InvokeAsync));
        Assert.Equal(0, factory.Calls);
    }

    [Fact]
    public async Task RemoveAsync_makes_the_next_lookup_run_the_factory()
    {
        var factory = new CountingFactory<int>(n => -n);
        await Cache.SetAsync(Key("gone"), 42);

        await Cache.RemoveAsync(Key("gone"));

        Assert.Equal(-1, await Cache.GetOrCreateAsync(Key("gone"), factory.InvokeAsync));
        Assert.Equal(-1, await Cache.GetOrCreateAsync(Key("gone"), factory.InvokeAsync));
        Assert.Equal(1, factory.Calls);
        await Cache.RemoveAsync(Key("never-there")); // removing a missing key is no error
    }

    [Fact]
    public async Task RemoveByTagAsync_drops_the_tags_entries_and_keeps_the_others()
    {
        var factory = new CountingFactory<string>(n => "recomputed-" + n);
        var tag = Key("menu-tag");
        await Cache.SetAsync(Key("tagged"), "tagged value", tags: [tag]);
        await Cache.SetAsync(Key("other"), "other value", tags: [Key("other-tag")]);
        Assert.Equal("made with tag", await Cache.GetOrCreateAsync(Key("made-tagged"), _ => ValueTask.FromResult("made with tag"), tags: [tag]));

        await Cache.RemoveByTagAsync(tag);

        Assert.Equal("recomputed-1", await Cache.GetOrCreateAsync(Key("tagged"), factory.InvokeAsync));
        Assert.Equal("recomputed-2", await Cache.GetOrCreateAsync(Key("made-tagged"), factory.InvokeAsync));
        Assert.Equal("other value", await Cache.GetOrCreateAsync(Key("other"), factory.InvokeAsync));
        Assert.Equal(2, factory.Calls);
    }

    [Fact]
    public async Task A_factory_exception_reaches_the_caller_and_nothing_is_cached()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
            await Cache.GetOrCreateAsync<string>(Key("failing"), async _ =>
            {
                await Task.Yield();
                throw new InvalidOperationException("the database is down");
            }));
        Assert.Equal("the database is down", error.Message);

        Assert.Equal("ok", await Cache.GetOrCreateAsync(Key("failing"), _ => ValueTask.FromResult("ok")));
    }

    [Fact]
    public async Task A_cancelled_token_cancels_the_call_and_the_factory_is_not_run()
    {
        var factory = new CountingFactory<int>(n => n);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            await Cache.GetOrCreateAsync(Key("cancelled"), factory.InvokeAsync, cancellationToken: cancelled.Token));

        Assert.Equal(0, factory.Calls);
    }

    [Fact]
    public async Task A_caller_that_cancels_while_the_factory_runs_gets_OperationCanceledException()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var caller = new CancellationTokenSource();

        var waiting = Cache.GetOrCreateAsync(Key("slow"), async cancellationToken =>
        {
            started.TrySetResult();
            await release.Task.WaitAsync(cancellationToken);
            return "slow value";
        }, cancellationToken: caller.Token).AsTask();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await caller.CancelAsync();

        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(caller.Token, error.CancellationToken);
        release.TrySetResult();
    }

    /// <summary>A key of this test only (the caches of all tests share one Redis).</summary>
    protected string Key(string name) => "contract:" + _space + ":" + name;
}

/// <summary>The contract run against Microsoft's <c>DefaultHybridCache</c>, with Redis as its L2.</summary>
[Collection(ServersCollection.Name)]
public sealed class DefaultHybridCacheContractTests(ServersFixture fixture) : HybridCacheContractTests
{
    private ServiceProvider? _provider;

    public override async Task DisposeAsync()
    {
        if (_provider is not null)
        {
            await _provider.DisposeAsync();
        }
    }

    protected override Task<HybridCache> CreateAsync()
    {
        var services = new ServiceCollection();
        services.AddStackExchangeRedisCache(o =>
        {
            o.Configuration = fixture.Servers.Redis[0].EndPoint;
            o.InstanceName = "t-microsoft-" + Guid.NewGuid().ToString("N")[..8] + ":";
        });
        services.AddHybridCache(o => o.MaximumKeyLength = MaxKeyLength);
        _provider = services.BuildServiceProvider();
        return Task.FromResult(_provider.GetRequiredService<HybridCache>());
    }
}

/// <summary>The contract run against <see cref="TwoTierCache"/> with its default options.</summary>
[Collection(ServersCollection.Name)]
public sealed class TwoTierCacheContractTests(ServersFixture fixture) : HybridCacheContractTests
{
    private readonly CacheTestKit _kit = new(fixture.Servers, "contract");

    public override async Task DisposeAsync() => await _kit.DisposeAsync();

    protected override async Task<HybridCache> CreateAsync()
    {
        var cache = await _kit.CreateReadyAsync();
        Assert.Equal(MaxKeyLength, new ScalingCacheOptions().MaxKeyLength);
        return cache;
    }
}
