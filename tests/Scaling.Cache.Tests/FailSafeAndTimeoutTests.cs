using System.Diagnostics;
using Microsoft.Extensions.Caching.Hybrid;
using Scaling.Testing;

namespace Scaling.Cache.Tests;

[Collection(ServersCollection.Name)]
public sealed class FailSafeAndTimeoutTests(ServersFixture fixture) : IAsyncLifetime
{
    private static readonly HybridCacheEntryOptions Short = new() { Expiration = TimeSpan.FromMilliseconds(300) };
    private CacheTestKit _kit = null!;

    public Task InitializeAsync()
    {
        _kit = new CacheTestKit(fixture.Servers, "failsafe");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _kit.DisposeAsync();

    [Fact]
    public async Task When_the_factory_fails_the_expired_value_is_served_and_the_factory_is_throttled()
    {
        var cache = _kit.Create(out var metrics, o => o.FailSafeThrottleDuration = TimeSpan.FromSeconds(30));
        await CacheTestKit.ReadyAsync(cache);
        Assert.Equal("v1", await cache.GetOrCreateAsync("price", _ => ValueTask.FromResult("v1"), Short));
        await Task.Delay(500);

        var failures = 0;
        ValueTask<string> Failing(CancellationToken _)
        {
            Interlocked.Increment(ref failures);
            throw new InvalidOperationException("the database is down");
        }

        Assert.Equal("v1", await cache.GetOrCreateAsync("price", Failing, Short));
        Assert.Equal("v1", await cache.GetOrCreateAsync("price", Failing, Short));
        Assert.Equal(1, failures); // the second call got the throttled stale value without calling the factory
        Assert.Equal(1, metrics["scaling.cache.stale_served|reason=factory_failed"]);
        Assert.Contains(_kit.Logs.Entries, e => e.Contains("fail-safe serves", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Another_instance_falls_back_on_the_expired_L2_value_when_its_factory_fails()
    {
        var writer = await _kit.CreateReadyAsync();
        await writer.GetOrCreateAsync("menu", _ => ValueTask.FromResult("from L2"), Short);
        await Task.Delay(500);
        var reader = await _kit.CreateReadyAsync();

        Assert.Equal("from L2", await reader.GetOrCreateAsync<string>("menu", _ => throw new TimeoutException("backend timeout"), Short));
    }

    [Fact]
    public async Task Without_fail_safe_or_past_its_window_the_factory_error_reaches_the_caller()
    {
        var noFailSafe = await _kit.CreateReadyAsync(o => o.EnableFailSafe = false);
        await noFailSafe.GetOrCreateAsync("a", _ => ValueTask.FromResult("v1"), Short);
        await Task.Delay(500);
        await Assert.ThrowsAsync<InvalidOperationException>(async () =>
            await noFailSafe.GetOrCreateAsync<string>("a", _ => throw new InvalidOperationException("down"), Short));

        var shortWindow = await _kit.CreateReadyAsync(o => o.FailSafeMaxDuration = TimeSpan.FromMilliseconds(200));
        await shortWindow.GetOrCreateAsync("b", _ => ValueTask.FromResult("v1"), Short);
        await Task.Delay(800);
        await Assert.ThrowsAsync<InvalidOperationException>(async () =>
            await shortWindow.GetOrCreateAsync<string>("b", _ => throw new InvalidOperationException("down"), Short));

        // A failed factory caches nothing: the next call runs it again.
        Assert.Equal("v2", await shortWindow.GetOrCreateAsync("b", _ => ValueTask.FromResult("v2"), Short));
    }

    [Fact]
    public async Task A_soft_timeout_serves_the_stale_value_at_once_and_the_slow_factory_result_is_cached_in_the_background()
    {
        var cache = _kit.Create(out var metrics, o => o.FactorySoftTimeout = TimeSpan.FromMilliseconds(100));
        await CacheTestKit.ReadyAsync(cache);
        await cache.GetOrCreateAsync("report", _ => ValueTask.FromResult("old"), Short);
        await Task.Delay(500);

        var stopwatch = Stopwatch.StartNew();
        var value = await cache.GetOrCreateAsync("report", async ct => { await Task.Delay(1500, ct); return "new"; }, Short);
        var waited = stopwatch.Elapsed;

        Assert.Equal("old", value);
        Assert.True(waited < TimeSpan.FromMilliseconds(1400), $"the caller waited {waited.TotalMilliseconds:0} ms for a 1500 ms factory");
        Assert.Equal(1, metrics["scaling.cache.stale_served|reason=soft_timeout"]);
        var never = new CountingFactory<string>(_ => "factory called again");
        await Eventually.TrueAsync(
            async () => await cache.GetOrCreateAsync("report", never.InvokeAsync, new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(1) }) == "new",
            TimeSpan.FromSeconds(5),
            "the background factory's result is cached");
        Assert.Equal(0, never.Calls);
    }

    [Fact]
    public async Task A_hard_timeout_bounds_the_wait_when_there_is_nothing_stale()
    {
        var cache = await _kit.CreateReadyAsync(o => o.FactoryHardTimeout = TimeSpan.FromMilliseconds(200));
        var stopwatch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<TimeoutException>(async () =>
            await cache.GetOrCreateAsync("slow", async ct => { await Task.Delay(1000, ct); return "done"; }));
        Assert.True(stopwatch.Elapsed < TimeSpan.FromMilliseconds(900), $"waited {stopwatch.Elapsed.TotalMilliseconds:0} ms");
        Assert.Contains("FactoryHardTimeout", error.Message, StringComparison.Ordinal);

        // Callers meanwhile wait on the same factory (no second call), each for at most the hard timeout.
        var never = new CountingFactory<string>(_ => "again");
        await Eventually.TrueAsync(
            async () =>
            {
                try
                {
                    return await cache.GetOrCreateAsync("slow", never.InvokeAsync) == "done";
                }
                catch (TimeoutException)
                {
                    return false;
                }
            },
            TimeSpan.FromSeconds(5),
            "the timed-out factory's result is cached when it finishes");
        Assert.Equal(0, never.Calls);
    }

    [Fact]
    public async Task Eager_refresh_renews_a_hot_entry_before_it_expires_without_making_the_caller_wait()
    {
        var cache = await _kit.CreateReadyAsync(o => { o.EagerRefreshThreshold = 0.5; o.ExpirationJitter = 0; });
        var lifetime = new HybridCacheEntryOptions { Expiration = TimeSpan.FromSeconds(2) };
        var factory = new CountingFactory<int>(n => n);
        Assert.Equal(1, await cache.GetOrCreateAsync("hot", factory.InvokeAsync, lifetime));

        await Task.Delay(1200); // past half of the lifetime, well before its end
        Assert.Equal(1, await cache.GetOrCreateAsync("hot", factory.InvokeAsync, lifetime)); // current value at once
        await Eventually.TrueAsync(() => Task.FromResult(factory.Calls == 2), TimeSpan.FromSeconds(2), "the background refresh ran");
        await Eventually.TrueAsync(
            async () => await cache.GetOrCreateAsync("hot", factory.InvokeAsync, lifetime) == 2,
            TimeSpan.FromSeconds(2),
            "the refreshed value is served");
        Assert.Equal(2, factory.Calls); // never a blocking miss
    }

    [Fact]
    public async Task Expiry_is_jittered_within_the_configured_fraction()
    {
        var cache = await _kit.CreateReadyAsync(o => { o.ExpirationJitter = 0.5; o.EnableFailSafe = false; });
        var lifetime = new HybridCacheEntryOptions { Expiration = TimeSpan.FromSeconds(100) };
        var raw = await _kit.RawAsync();
        var ttls = new List<double>();
        for (var i = 0; i < 20; i++)
        {
            await cache.SetAsync("j" + i, i, lifetime);
            ttls.Add((await raw.KeyTimeToLiveAsync(_kit.Prefix + "j" + i))!.Value.TotalSeconds);
        }

        Assert.All(ttls, ttl => Assert.InRange(ttl, 98, 150.5));
        Assert.True(ttls.Max() - ttls.Min() > 5, $"TTLs were not spread: {string.Join(", ", ttls.Select(t => t.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)))}");
    }
}
