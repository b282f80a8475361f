using Microsoft.Extensions.Caching.Hybrid;
using Scaling.Testing;

namespace Scaling.Cache.Tests;

[Collection(ServersCollection.Name)]
public sealed class RedisFailureTests(ServersFixture fixture) : IAsyncLifetime
{
    private CacheTestKit _kit = null!;

    public Task InitializeAsync()
    {
        _kit = new CacheTestKit(fixture.Servers, "redis-down");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _kit.DisposeAsync();

    [Fact]
    public async Task With_Redis_killed_the_cache_keeps_working_from_L1_and_the_factory_then_uses_L2_again_by_itself()
    {
        var redis = fixture.Servers.Redis[0];
        var a = _kit.Create(out var metrics);
        await CacheTestKit.ReadyAsync(a);
        var b = await _kit.CreateReadyAsync();
        await a.SetAsync("before", "cached before the outage");
        var factory = new CountingFactory<string>(n => "made-" + n);

        await redis.KillAsync();
        try
        {
            // Reads: L1 hits, and misses go to the factory; writes and removals succeed locally. No exception.
            Assert.Equal("cached before the outage", await a.GetOrCreateAsync("before", factory.InvokeAsync));
            for (var i = 0; i < 500; i++)
            {
                Assert.StartsWith("made-", await a.GetOrCreateAsync("during-" + i, factory.InvokeAsync), StringComparison.Ordinal);
            }

            Assert.Equal(500, factory.Calls);
            await a.SetAsync("written-during", "local value");
            Assert.Equal("local value", await a.GetOrCreateAsync("written-during", factory.InvokeAsync));
            await a.RemoveAsync("before");
            await a.RemoveByTagAsync("some-tag");
            Assert.False(a.IsDistributedCacheAvailable);

            // The breaker: 500 lookups and 3 writes cost a handful of failed Redis operations, not one each.
            Assert.InRange(metrics["scaling.cache.l2.errors"], 1, 10);
        }
        finally
        {
            await redis.RestartAsync();
        }

        await Eventually.TrueAsync(() => Task.FromResult(a.IsBackplaneConnected && b.IsBackplaneConnected), TimeSpan.FromSeconds(15), "both caches reconnected");
        // L2 is used again: what A writes now, B reads from Redis without its factory.
        await Eventually.TrueAsync(
            async () =>
            {
                await a.SetAsync("after", "shared again");
                var never = new CountingFactory<string>(_ => "factory");
                return await b.GetOrCreateAsync("after-" + Guid.NewGuid().ToString("N")[..6], never.InvokeAsync) == "factory"
                    && await b.GetOrCreateAsync("after", never.InvokeAsync) == "shared again";
            },
            TimeSpan.FromSeconds(10),
            "L2 is in use again");
        Assert.True(a.IsDistributedCacheAvailable);
        Assert.True(metrics["scaling.cache.backplane.flushes|reason=reconnect"] >= 1);
    }

    [Fact]
    public async Task After_a_reconnect_an_instance_flushes_L1_because_it_may_have_missed_invalidations()
    {
        var redis = fixture.Servers.Redis[0];
        var b = _kit.Create(out var metrics);
        await CacheTestKit.ReadyAsync(b);
        var first = new CountingFactory<string>(n => "v" + n);
        var localOnly = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(10), Flags = HybridCacheEntryFlags.DisableDistributedCache };
        Assert.Equal("v1", await b.GetOrCreateAsync("menu", first.InvokeAsync, localOnly));
        Assert.Equal("v1", await b.GetOrCreateAsync("menu", first.InvokeAsync, localOnly));

        await redis.KillAsync();
        await redis.RestartAsync();
        await Eventually.TrueAsync(() => Task.FromResult(metrics["scaling.cache.backplane.flushes|reason=reconnect"] >= 1), TimeSpan.FromSeconds(15), "B flushed L1 on reconnect");

        // The entry was fresh in L1 for ten more minutes, but B no longer trusts it.
        Assert.Equal("v2", await b.GetOrCreateAsync("menu", first.InvokeAsync, localOnly));
    }

    [Fact]
    public async Task A_tag_invalidated_while_Redis_is_down_drops_only_that_tags_entries_and_stays_behind_later_invalidations()
    {
        var redis = fixture.Servers.Redis[0];
        var a = _kit.Create(out var metrics);
        await CacheTestKit.ReadyAsync(a);
        var b = await _kit.CreateReadyAsync();
        var factory = new CountingFactory<string>(n => "made-" + n);
        await a.SetAsync("tagged", "old", tags: ["menu"]);
        await a.SetAsync("untagged", "kept");

        await redis.KillAsync();
        try
        {
            // Three invalidations of the tag during the outage, so that this instance's own version of the tag runs
            // ahead of the single increment the replay makes.
            for (var i = 0; i < 3; i++)
            {
                await a.RemoveByTagAsync("menu");
            }

            Assert.False(a.IsDistributedCacheAvailable);
            Assert.Equal("made-1", await a.GetOrCreateAsync("tagged", factory.InvokeAsync, tags: ["menu"]));
            Assert.Equal("kept", await a.GetOrCreateAsync("untagged", factory.InvokeAsync)); // the rest of L1 stays
            Assert.Equal(1, factory.Calls);
        }
        finally
        {
            await redis.RestartAsync();
        }

        await Eventually.TrueAsync(() => Task.FromResult(a.IsBackplaneConnected && b.IsBackplaneConnected && a.IsDistributedCacheAvailable), TimeSpan.FromSeconds(15), "both caches reconnected");
        await Eventually.TrueAsync(() => Task.FromResult(_kit.Logs.Entries.Any(e => e.Contains("replayed", StringComparison.Ordinal))), TimeSpan.FromSeconds(10), "A replayed the tag");

        // An entry A makes now, then an invalidation by B: A must not keep serving it, however far A's own version of
        // the tag ran ahead during the outage.
        await a.SetAsync("after", "before B's invalidation", tags: ["menu"]);
        Assert.Equal("before B's invalidation", await a.GetOrCreateAsync("after", factory.InvokeAsync, tags: ["menu"]));
        await b.RemoveByTagAsync("menu");
        await Eventually.TrueAsync(
            async () => await a.GetOrCreateAsync("after", factory.InvokeAsync, tags: ["menu"]) != "before B's invalidation",
            TimeSpan.FromSeconds(2),
            "A dropped its entry after B invalidated the tag");
        Assert.Equal(0, metrics["scaling.cache.backplane.flushes|reason=a tag was invalidated while Redis is unavailable"]);
    }

    [Fact]
    public async Task A_cache_started_while_Redis_is_down_subscribes_once_Redis_is_up()
    {
        // Its first connect fails; the multiplexer's later "restored" is the first real connect and must be acted on
        // (the restore filter of the start-up race must not swallow it).
        var redis = fixture.Servers.Redis[0];
        await redis.KillAsync();
        TwoTierCache a;
        try
        {
            a = _kit.Create();
            await Task.Delay(1500);
            Assert.False(a.IsBackplaneConnected);
        }
        finally
        {
            await redis.RestartAsync();
        }

        await Eventually.TrueAsync(() => Task.FromResult(a.IsBackplaneConnected), TimeSpan.FromSeconds(15), "the cache subscribed after Redis came up");
        var b = await _kit.CreateReadyAsync();
        await a.SetAsync("k", "from A");
        var never = new CountingFactory<string>(_ => "factory");
        Assert.Equal("from A", await b.GetOrCreateAsync("k", never.InvokeAsync));
        await b.SetAsync("k", "from B");
        await Eventually.TrueAsync(async () => await a.GetOrCreateAsync("k", never.InvokeAsync) == "from B", TimeSpan.FromSeconds(2), "A heard B's change on the backplane");
    }

    [Fact]
    public async Task Invalidations_made_while_Redis_was_down_are_replayed_when_it_is_back()
    {
        // Redis restarts with its data (as with persistence): a value replaced during the outage must not come back from L2.
        var redis = fixture.Servers.Redis[0];
        var a = await _kit.CreateReadyAsync();
        await a.SetAsync("price", "100");
        await a.SetAsync("tagged", "old", tags: ["catalog"]);
        await redis.PauseAsync();
        try
        {
            await a.SetAsync("price", "120"); // times out against the paused Redis: kept locally, remembered
            await a.RemoveByTagAsync("catalog");
            Assert.False(a.IsDistributedCacheAvailable);
        }
        finally
        {
            await redis.ResumeAsync();
        }

        var raw = await _kit.RawAsync();
        await Eventually.TrueAsync(
            async () => (byte[]?)await raw.StringGetAsync(_kit.Prefix + "price") is { Length: 18 },
            TimeSpan.FromSeconds(15),
            "the replaced key became a tombstone in L2");
        var c = await _kit.CreateReadyAsync();
        var factory = new CountingFactory<string>(_ => "from the database");
        Assert.Equal("from the database", await c.GetOrCreateAsync("price", factory.InvokeAsync));
        Assert.Equal("from the database", await c.GetOrCreateAsync("tagged", factory.InvokeAsync));
        Assert.Contains(_kit.Logs.Entries, e => e.Contains("replayed 1 key and 1 tag", StringComparison.Ordinal));
    }
}
