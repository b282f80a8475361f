using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using Microsoft.Extensions.Caching.Hybrid;
using Scaling.Testing;

namespace Scaling.Cache.Tests;

[Collection(ServersCollection.Name)]
public sealed class TwoTierCacheTests(ServersFixture fixture) : IAsyncLifetime
{
    private CacheTestKit _kit = null!;

    public Task InitializeAsync()
    {
        _kit = new CacheTestKit(fixture.Servers, "basics");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _kit.DisposeAsync();

    [Fact]
    public async Task A_value_is_made_once_then_served_from_L1_and_another_instance_gets_it_from_L2()
    {
        var a = await _kit.CreateReadyAsync();
        var b = _kit.Create(out var bMetrics);
        await CacheTestKit.ReadyAsync(b);
        var factoryA = new CountingFactory<string>(n => "made-" + n);
        var factoryB = new CountingFactory<string>(n => "made-by-b-" + n);

        Assert.Equal("made-1", await a.GetOrCreateAsync("greeting", factoryA.InvokeAsync));
        Assert.Equal("made-1", await a.GetOrCreateAsync("greeting", factoryA.InvokeAsync));
        Assert.Equal(1, factoryA.Calls);

        Assert.Equal("made-1", await b.GetOrCreateAsync("greeting", factoryB.InvokeAsync));
        Assert.Equal("made-1", await b.GetOrCreateAsync("greeting", factoryB.InvokeAsync));
        Assert.Equal(0, factoryB.Calls);
        Assert.Equal(1, bMetrics["scaling.cache.hits|tier=l2"]);
        Assert.Equal(1, bMetrics["scaling.cache.hits|tier=l1"]);

        var raw = await _kit.RawAsync();
        Assert.True(await raw.KeyExistsAsync(_kit.Prefix + "greeting"));
    }

    [Fact]
    public async Task SetAsync_replaces_and_RemoveAsync_removes_in_both_tiers()
    {
        var cache = await _kit.CreateReadyAsync();
        var factory = new CountingFactory<int>(n => -n);

        await cache.SetAsync("answer", 42);
        Assert.Equal(42, await cache.GetOrCreateAsync("answer", factory.InvokeAsync));
        Assert.Equal(0, factory.Calls);

        await cache.RemoveAsync("answer");
        Assert.Equal(-1, await cache.GetOrCreateAsync("answer", factory.InvokeAsync));
        Assert.Equal(1, factory.Calls);

        var fresh = await _kit.CreateReadyAsync();
        var value = await fresh.GetOrCreateAsync("answer", factory.InvokeAsync);
        Assert.True(value == -1, $"the new instance got {value}; logs: {string.Join(" / ", _kit.Logs.Entries)}");
        Assert.Equal(1, factory.Calls);
    }

    [Fact]
    public async Task A_thousand_concurrent_misses_of_one_key_run_the_factory_once()
    {
        var cache = await _kit.CreateReadyAsync();
        var calls = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async ValueTask<string> Factory(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref calls);
            await release.Task.WaitAsync(cancellationToken);
            return "the one value";
        }

        var callers = Enumerable.Range(0, 1000)
            .Select(_ => Task.Run(async () => await cache.GetOrCreateAsync("hot", Factory)))
            .ToArray();
        await Task.Delay(200);
        release.SetResult();
        var results = await Task.WhenAll(callers);

        Assert.Equal(1, calls);
        Assert.All(results, r => Assert.Equal("the one value", r));
    }

    [Fact]
    public async Task A_caller_that_cancels_leaves_the_others_their_value_and_the_factory_stops_only_when_all_gave_up()
    {
        var cache = await _kit.CreateReadyAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var factoryCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async ValueTask<string> Factory(CancellationToken cancellationToken)
        {
            using var _ = cancellationToken.Register(() => factoryCancelled.TrySetResult());
            await release.Task.WaitAsync(cancellationToken);
            return "value";
        }

        using var impatient = new CancellationTokenSource();
        var first = cache.GetOrCreateAsync("shared", Factory, cancellationToken: impatient.Token).AsTask();
        var second = cache.GetOrCreateAsync("shared", Factory).AsTask();
        await Task.Delay(100);
        await impatient.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        Assert.False(factoryCancelled.Task.IsCompleted);
        release.SetResult();
        Assert.Equal("value", await second);

        // Now every caller gives up: the factory's token fires.
        using var only = new CancellationTokenSource();
        var gaveUp = cache.GetOrCreateAsync("abandoned", async ct => { await Task.Delay(Timeout.Infinite, ct); return "never"; }, cancellationToken: only.Token).AsTask();
        var abandonedFactoryCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var watcher = cache.GetOrCreateAsync("abandoned-2", async ct =>
        {
            using var _ = ct.Register(() => abandonedFactoryCancelled.TrySetResult());
            await Task.Delay(Timeout.Infinite, ct);
            return "never";
        }, cancellationToken: only.Token).AsTask();
        await Task.Delay(100);
        await only.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gaveUp);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watcher);
        await abandonedFactoryCancelled.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_failed_factory_is_not_cached_and_the_next_call_runs_its_own_factory()
    {
        var cache = await _kit.CreateReadyAsync(o => o.EnableFailSafe = false);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(loop => Task.Run(async () =>
        {
            for (var i = 0; i < 200; i++)
            {
                var key = $"fails-once-{loop}-{i}";
                await Assert.ThrowsAsync<InvalidOperationException>(async () =>
                    await cache.GetOrCreateAsync<string>(key, async _ => { await Task.Yield(); throw new InvalidOperationException("backend down"); }));
                Assert.Equal("ok", await cache.GetOrCreateAsync(key, _ => ValueTask.FromResult("ok")));
            }
        })));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("tab\there")]
    [InlineData("caf\u00e9")]
    public async Task With_ThrowOnInvalidKey_invalid_keys_are_rejected_with_a_clear_error(string key)
    {
        var cache = await _kit.CreateReadyAsync(o => o.ThrowOnInvalidKey = true);
        var factory = new CountingFactory<int>(n => n);

        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await cache.GetOrCreateAsync(key, factory.InvokeAsync));
        Assert.Contains("cache key", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(async () => await cache.SetAsync(key, 1));
        await Assert.ThrowsAsync<ArgumentException>(async () => await cache.RemoveAsync(key));
        Assert.Equal(0, factory.Calls);
    }

    [Fact]
    public async Task With_ThrowOnInvalidKey_null_keys_too_long_keys_bad_tags_and_too_many_tags_are_rejected()
    {
        var cache = await _kit.CreateReadyAsync(o => { o.MaxKeyLength = 20; o.ThrowOnInvalidKey = true; });
        var factory = new CountingFactory<int>(n => n);

        await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.GetOrCreateAsync(null!, factory.InvokeAsync));
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(async () => await cache.GetOrCreateAsync(new string('k', 21), factory.InvokeAsync));
        Assert.Contains("maximum is 20", tooLong.Message, StringComparison.Ordinal);
        var badTag = await Assert.ThrowsAsync<ArgumentException>(async () => await cache.SetAsync("k", 1, tags: ["ok", "not ok"]));
        Assert.Contains("cache tag", badTag.Message, StringComparison.Ordinal);
        var badRemovedTag = await Assert.ThrowsAsync<ArgumentException>(async () => await cache.RemoveByTagAsync(" "));
        Assert.Contains("cache tag", badRemovedTag.Message, StringComparison.Ordinal);
        var many = await Assert.ThrowsAsync<ArgumentException>(async () => await cache.SetAsync("k", 1, tags: Enumerable.Range(0, 65).Select(i => "t" + i)));
        Assert.Contains("at most 64 tags", many.Message, StringComparison.Ordinal);
        Assert.Equal(0, factory.Calls);
    }

    [Fact]
    public async Task An_oversized_or_unserializable_value_is_refused_by_SetAsync_and_the_previous_value_stays()
    {
        var cache = await _kit.CreateReadyAsync(o => o.MaxPayloadBytes = 100);
        var other = await _kit.CreateReadyAsync();
        await cache.SetAsync("doc", "small");

        var tooBig = await Assert.ThrowsAsync<CacheValueException>(async () => await cache.SetAsync("doc", new string('x', 500)));
        Assert.Contains("MaxPayloadBytes allows 100", tooBig.Message, StringComparison.Ordinal);
        Assert.Equal("doc", tooBig.Key);
        var unserializable = await Assert.ThrowsAsync<CacheValueException>(async () => await cache.SetAsync("doc-2", new Unserializable()));
        Assert.Contains("cannot be serialized", unserializable.Message, StringComparison.Ordinal);
        Assert.Equal("doc-2", unserializable.Key);

        var never = new CountingFactory<string>(_ => "factory");
        Assert.Equal("small", await cache.GetOrCreateAsync("doc", never.InvokeAsync));
        Assert.Equal("small", await other.GetOrCreateAsync("doc", never.InvokeAsync));
        Assert.Equal(0, never.Calls);
    }

    [Fact]
    public async Task An_oversized_factory_result_is_returned_and_kept_in_L1_only()
    {
        var cache = await _kit.CreateReadyAsync(o => o.MaxPayloadBytes = 100);
        var other = await _kit.CreateReadyAsync();
        var big = new CountingFactory<string>(n => new string('x', 500) + n);

        Assert.Equal(new string('x', 500) + "1", await cache.GetOrCreateAsync("big", big.InvokeAsync));
        Assert.Equal(new string('x', 500) + "1", await cache.GetOrCreateAsync("big", big.InvokeAsync));
        Assert.Equal(1, big.Calls);
        Assert.False(await (await _kit.RawAsync()).KeyExistsAsync(_kit.Prefix + "big"));
        Assert.Equal(new string('x', 500) + "2", await other.GetOrCreateAsync("big", big.InvokeAsync));
        Assert.Contains(_kit.Logs.Entries, e => e.Contains("kept in L1 only", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_corrupt_or_mistyped_L2_value_is_a_logged_miss_not_an_exception()
    {
        var cache = _kit.Create(out var metrics);
        await CacheTestKit.ReadyAsync(cache);
        var raw = await _kit.RawAsync();
        await raw.StringSetAsync(_kit.Prefix + "garbage", new byte[] { 1, 2, 3 });
        await raw.StringSetAsync(_kit.Prefix + "truncated", new byte[] { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5 });
        var writer = _kit.Create();
        await CacheTestKit.ReadyAsync(writer);
        await writer.SetAsync("mistyped", "not a number");

        var factory = new CountingFactory<int>(n => n * 10);
        Assert.Equal(10, await cache.GetOrCreateAsync("garbage", factory.InvokeAsync));
        Assert.Equal(20, await cache.GetOrCreateAsync("truncated", factory.InvokeAsync));
        Assert.Equal(30, await cache.GetOrCreateAsync("mistyped", factory.InvokeAsync));
        Assert.Equal(3, metrics["scaling.cache.l2.corrupt"]);
        Assert.Contains(_kit.Logs.Entries, e => e.Contains("'mistyped'", StringComparison.Ordinal) && e.Contains("Int32", StringComparison.Ordinal));

        // The factory's result replaced the corrupt value for everyone.
        var other = await _kit.CreateReadyAsync();
        Assert.Equal(10, await other.GetOrCreateAsync("garbage", factory.InvokeAsync));
    }

    [Fact]
    public async Task A_registered_serializer_factory_is_used_for_L2()
    {
        var cache = _kit.Create(serializers: [new UpperCaseStringSerializerFactory()]);
        await CacheTestKit.ReadyAsync(cache);
        await cache.SetAsync("word", "hello");

        var stored = (byte[])(await (await _kit.RawAsync()).StringGetAsync(_kit.Prefix + "word"))!;
        Assert.EndsWith("HELLO", Encoding.ASCII.GetString(stored), StringComparison.Ordinal);
        var reader = _kit.Create(serializers: [new UpperCaseStringSerializerFactory()]);
        await CacheTestKit.ReadyAsync(reader);
        Assert.Equal("hello", await reader.GetOrCreateAsync("word", _ => ValueTask.FromResult("factory")));
    }

    [Fact]
    public async Task L1_holds_at_most_LocalCacheSizeLimit_entries_and_the_rest_stay_reachable_in_L2()
    {
        var cache = await _kit.CreateReadyAsync(o => o.LocalCacheSizeLimit = 10);
        for (var i = 0; i < 100; i++)
        {
            await cache.SetAsync("sized-" + i, i);
        }

        Assert.InRange(cache.LocalEntryCount, 1, 10);
        var never = new CountingFactory<int>(_ => -1);
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(i, await cache.GetOrCreateAsync("sized-" + i, never.InvokeAsync));
        }

        Assert.Equal(0, never.Calls);
        Assert.InRange(cache.LocalEntryCount, 1, 10);
    }

    [Fact]
    public async Task Over_LocalCacheSizeLimit_L1_evicts_the_least_recently_used_and_keeps_what_was_hit()
    {
        // Entries kept in L1 only, so whether each is still there shows: a miss calls the factory.
        var localOnly = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableDistributedCache };
        var cache = await _kit.CreateReadyAsync(o => o.LocalCacheSizeLimit = 10);
        for (var i = 0; i < 9; i++)
        {
            await cache.SetAsync("old-" + i, i, localOnly);
        }

        await Task.Delay(1_100); // past the second to which L1 records a use
        var never = new CountingFactory<int>(_ => -1);
        Assert.Equal(0, await cache.GetOrCreateAsync("old-0", never.InvokeAsync, localOnly)); // a use: old-0 is recent now
        for (var i = 0; i < 7; i++)
        {
            await cache.SetAsync("new-" + i, 100 + i, localOnly);
            Assert.InRange(cache.LocalEntryCount, 1, 10);
        }

        Assert.Equal(0, await cache.GetOrCreateAsync("old-0", never.InvokeAsync, localOnly));
        for (var i = 0; i < 7; i++)
        {
            Assert.Equal(100 + i, await cache.GetOrCreateAsync("new-" + i, never.InvokeAsync, localOnly));
        }

        Assert.Equal(0, never.Calls);
        var evicted = new CountingFactory<int>(_ => -1);
        var probe = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableDistributedCache | HybridCacheEntryFlags.DisableLocalCacheWrite };
        for (var i = 1; i < 9; i++)
        {
            await cache.GetOrCreateAsync("old-" + i, evicted.InvokeAsync, probe);
        }

        // 16 entries into a limit of 10: three evictions down to 9, two entries each, all old ones never hit.
        Assert.Equal(6, evicted.Calls);
        Assert.Equal(10, cache.LocalEntryCount);
    }

    [Fact]
    public async Task Over_LocalCacheSizeLimit_L1_drops_the_entries_past_their_lifetime_first()
    {
        var cache = await _kit.CreateReadyAsync(o =>
        {
            o.LocalCacheSizeLimit = 10;
            o.EnableFailSafe = false; // an expired entry is not kept for fail-safe
        });
        var brief = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMilliseconds(50), Flags = HybridCacheEntryFlags.DisableDistributedCache };
        for (var i = 0; i < 10; i++)
        {
            await cache.SetAsync("brief-" + i, i, brief);
        }

        Assert.Equal(10, cache.LocalEntryCount);
        await Task.Delay(200);
        await cache.SetAsync("lasting", 1);

        Assert.Equal(1, cache.LocalEntryCount);
    }

    [Fact]
    public async Task Entry_flags_skip_the_tiers_they_name()
    {
        var cache = await _kit.CreateReadyAsync();
        var factory = new CountingFactory<int>(n => n);
        var localOnly = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableDistributedCache };

        Assert.Equal(1, await cache.GetOrCreateAsync("local-only", factory.InvokeAsync, localOnly));
        Assert.Equal(1, await cache.GetOrCreateAsync("local-only", factory.InvokeAsync, localOnly));
        Assert.False(await (await _kit.RawAsync()).KeyExistsAsync(_kit.Prefix + "local-only"));

        var noFactory = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableUnderlyingData };
        Assert.Equal(0, await cache.GetOrCreateAsync("absent", factory.InvokeAsync, noFactory));
        Assert.Equal(1, factory.Calls);
    }

    private sealed class Unserializable
    {
        [SuppressMessage("Performance", "CA1822", Justification = "A property the serializer reads.")]
        public int Value => throw new InvalidOperationException("this property cannot be read");
    }

    private sealed class UpperCaseStringSerializerFactory : IHybridCacheSerializerFactory
    {
        public bool TryCreateSerializer<T>([NotNullWhen(true)] out IHybridCacheSerializer<T>? serializer)
        {
            serializer = typeof(T) == typeof(string) ? (IHybridCacheSerializer<T>)(object)new UpperCaseSerializer() : null;
            return serializer is not null;
        }

        private sealed class UpperCaseSerializer : IHybridCacheSerializer<string>
        {
            public string Deserialize(ReadOnlySequence<byte> source) => Encoding.ASCII.GetString(source.ToArray()).ToLowerInvariant();

            public void Serialize(string value, IBufferWriter<byte> target) => target.Write(Encoding.ASCII.GetBytes(value.ToUpperInvariant()));
        }
    }
}
