using System.Diagnostics;
using Microsoft.Extensions.Caching.Hybrid;
using Scaling.Testing;
using Xunit.Abstractions;

namespace Scaling.Cache.Tests;

[Collection(ServersCollection.Name)]
public sealed class BackplaneTests(ServersFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>
    /// The bound this test holds the backplane to: far above the real figure (p99 0.53 ms, measured by the benchmark) and
    /// loose enough for a 2-core CI machine running several test assemblies and their servers at once, where one message
    /// was once delivered 325 ms late; a message that never arrives still fails it.
    /// </summary>
    private static readonly TimeSpan PropagationBound = TimeSpan.FromSeconds(1);

    private CacheTestKit _kit = null!;

    public Task InitializeAsync()
    {
        _kit = new CacheTestKit(fixture.Servers, "backplane");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _kit.DisposeAsync();

    [Fact]
    public async Task After_A_updates_a_key_B_never_serves_the_old_value_once_the_propagation_bound_has_passed()
    {
        var a = await _kit.CreateReadyAsync();
        var b = await _kit.CreateReadyAsync();
        var never = new CountingFactory<int>(_ => -1);
        var latencies = new List<double>();
        await a.SetAsync("counter", 0);
        Assert.Equal(0, await b.GetOrCreateAsync("counter", never.InvokeAsync));

        for (var version = 1; version <= 40; version++)
        {
            await a.SetAsync("counter", version);
            var returned = Stopwatch.StartNew();
            int seen;
            while ((seen = await b.GetOrCreateAsync("counter", never.InvokeAsync)) != version)
            {
                Assert.True(seen == version - 1, $"B served {seen} while A had written {version}");
                Assert.True(returned.Elapsed < PropagationBound, $"B still served version {seen} {returned.Elapsed.TotalMilliseconds:0.0} ms after A's SetAsync({version}) returned");
                await Task.Delay(1); // not a busy loop: it would take a core from the subscriber it waits for
            }

            latencies.Add(returned.Elapsed.TotalMilliseconds);
        }

        Assert.Equal(0, never.Calls);
        latencies.Sort();
        output.WriteLine($"propagation after SetAsync returned: p50 {latencies[latencies.Count / 2]:0.00} ms, max {latencies[^1]:0.00} ms");
    }

    [Fact]
    public async Task Remove_and_RemoveByTag_reach_every_other_instance()
    {
        var a = await CacheTestKit.ReadyAsync(_kit.Create(out var aMetrics));
        var b = await CacheTestKit.ReadyAsync(_kit.Create(out var bMetrics));
        var factory = new CountingFactory<string>(n => "made-" + n);
        await a.SetAsync("one", "x");
        await a.SetAsync("tagged-1", "t1", tags: ["business:7"]);
        await a.SetAsync("tagged-2", "t2", tags: ["business:7", "services"]);
        await a.SetAsync("untagged", "u");
        foreach (var key in new[] { "one", "tagged-1", "tagged-2", "untagged" })
        {
            await b.GetOrCreateAsync(key, factory.InvokeAsync);
        }

        Assert.Equal(0, factory.Calls);

        await a.RemoveAsync("one");
        await a.RemoveByTagAsync("business:7");
        await Eventually.TrueAsync(async () => await b.GetOrCreateAsync("one", factory.InvokeAsync) != "x", PropagationBound, "B dropped the removed key");
        Assert.StartsWith("made-", await b.GetOrCreateAsync("tagged-1", factory.InvokeAsync), StringComparison.Ordinal);
        Assert.StartsWith("made-", await b.GetOrCreateAsync("tagged-2", factory.InvokeAsync), StringComparison.Ordinal);
        Assert.Equal("u", await b.GetOrCreateAsync("untagged", factory.InvokeAsync));

        // A third instance that starts later reads L2: the invalidated tag's entries are misses there too.
        var late = await _kit.CreateReadyAsync();
        var lateFactory = new CountingFactory<string>(n => "late-" + n);
        Assert.Equal("late-1", await late.GetOrCreateAsync("tagged-1-never-read", lateFactory.InvokeAsync, tags: ["business:7"]));
        Assert.Equal("u", await late.GetOrCreateAsync("untagged", lateFactory.InvokeAsync));

        Assert.Equal(6, aMetrics["scaling.cache.backplane.messages|direction=sent"]); // 4 sets, 1 remove, 1 tag
        Assert.Equal(6, bMetrics["scaling.cache.backplane.messages|direction=received"]);
        Assert.Equal(3, bMetrics["scaling.cache.factory.calls|outcome=success"]); // one, tagged-1, tagged-2
        Assert.Equal(0, bMetrics["scaling.cache.backplane.flushes"]);
    }

    [Fact]
    public async Task Dropping_a_tenant_drops_only_its_entries_on_every_instance()
    {
        var a = await _kit.CreateReadyAsync();
        var b = await _kit.CreateReadyAsync();
        var factory = new CountingFactory<string>(n => "recomputed-" + n);
        var t1 = TenantCacheKeys.Key("salon-1", "services");
        var t2 = TenantCacheKeys.Key("salon-2", "services");
        await a.SetAsync(t1, "salon 1 services");
        await a.SetAsync(t2, "salon 2 services");
        Assert.Equal("salon 1 services", await b.GetOrCreateAsync(t1, factory.InvokeAsync));
        Assert.Equal("salon 2 services", await b.GetOrCreateAsync(t2, factory.InvokeAsync));

        await a.RemoveTenantAsync("salon-1");

        await Eventually.TrueAsync(async () => (await b.GetOrCreateAsync(t1, factory.InvokeAsync)).StartsWith("recomputed-", StringComparison.Ordinal), PropagationBound, "B dropped salon-1's entry");
        Assert.Equal("salon 2 services", await b.GetOrCreateAsync(t2, factory.InvokeAsync));
        Assert.Equal("salon 2 services", await a.GetOrCreateAsync(t2, factory.InvokeAsync));
        Assert.Throws<ArgumentException>(() => TenantCacheKeys.Key("bad tenant", "k"));
        Assert.Throws<ArgumentException>(() => TenantCacheKeys.Tag(new string('t', 65)));
    }

    [Fact]
    public async Task Starting_up_is_not_a_reconnect()
    {
        // StackExchange.Redis sometimes reports its subscription connection's first connect, when that completes
        // just after ConnectAsync returned, as "restored" (seen once in 15 starts of a bare console program, and as
        // rare flushes in this suite's other tests). Taken for a reconnect, it flushed an L1 that had just been
        // filled. This guards against that coming back: twenty instances give the race twenty chances to show.
        var instances = new List<(TwoTierCache Cache, CacheMetrics Metrics)>();
        for (var i = 0; i < 20; i++)
        {
            instances.Add((_kit.Create(out var metrics), metrics));
        }

        foreach (var (cache, _) in instances)
        {
            await CacheTestKit.ReadyAsync(cache);
        }

        await Task.Delay(500);
        Assert.All(instances, instance => Assert.Equal(0, instance.Metrics["scaling.cache.backplane.flushes"]));
    }

    [Fact]
    public async Task A_tag_version_kept_in_the_single_hash_of_earlier_versions_is_loaded_so_versions_never_go_back()
    {
        var raw = await _kit.RawAsync();
        await raw.HashSetAsync(_kit.Prefix + "tag-versions", "upgraded-tag", 5); // what a version before 0.7 left in Redis
        var cache = await _kit.CreateReadyAsync();

        await cache.RemoveByTagAsync("upgraded-tag");

        var buckets = Enumerable.Range(0, 16).Select(i => (StackExchange.Redis.RedisKey)(_kit.Prefix + "tag-versions:{" + i + "}")).ToArray();
        var versions = new List<long>();
        foreach (var bucket in buckets)
        {
            if (await raw.HashGetAsync(bucket, "upgraded-tag") is { IsNull: false } version)
            {
                versions.Add((long)version);
            }
        }

        Assert.Equal([6L], versions); // past the old version, in exactly one bucket
    }

    [Fact]
    public async Task An_instance_drops_its_own_messages_when_Redis_sends_them_back_and_reads_a_publisher_whose_name_starts_like_its_own()
    {
        var a = _kit.Create(out var metrics);
        await CacheTestKit.ReadyAsync(a);
        var never = new CountingFactory<string>(_ => "factory");
        await a.SetAsync("mine", "kept");
        await a.RemoveByTagAsync("some-tag");

        // Redis delivers in order: once A has read this message, its own two came back before it.
        await _kit.PublishRawAsync($"1|{a.InstanceId}x|1|K|unrelated");
        await Eventually.TrueAsync(
            () => Task.FromResult(metrics["scaling.cache.backplane.messages|direction=received"] == 1), PropagationBound, "A read the other publisher's message");
        await Task.Delay(50);

        Assert.Equal(2, metrics["scaling.cache.backplane.messages|direction=sent"]);
        Assert.Equal(1, metrics["scaling.cache.backplane.messages|direction=received"]); // not its own
        Assert.Equal("kept", await a.GetOrCreateAsync("mine", never.InvokeAsync)); // its own "changed" did not drop it from L1
        Assert.Equal(1, metrics["scaling.cache.hits|tier=l1"]);
        Assert.Equal(0, metrics["scaling.cache.backplane.flushes"]);
        Assert.Equal(0, never.Calls);
    }

    [Fact]
    public async Task A_gap_in_a_publishers_sequence_flushes_L1()
    {
        var b = _kit.Create(out var metrics);
        await CacheTestKit.ReadyAsync(b);
        var raw = await _kit.RawAsync();
        var never = new CountingFactory<string>(_ => "factory");
        await b.SetAsync("kept", "old");
        Assert.Equal("old", await b.GetOrCreateAsync("kept", never.InvokeAsync));
        // Change L2 behind B's back: only a flush of B's L1 makes B see it.
        var writer = await _kit.CreateReadyAsync();
        await writer.SetAsync("kept-source", "new");
        await raw.StringSetAsync(_kit.Prefix + "kept", await raw.StringGetAsync(_kit.Prefix + "kept-source"));

        await _kit.PublishRawAsync("1|other-instance|1|K|unrelated");
        await _kit.PublishRawAsync("1|other-instance|2|K|unrelated");
        await Task.Delay(100);
        Assert.Equal("old", await b.GetOrCreateAsync("kept", never.InvokeAsync)); // consecutive: no flush
        Assert.Equal(0, metrics["scaling.cache.backplane.flushes"]);

        await _kit.PublishRawAsync("1|other-instance|4|K|unrelated"); // 3 is missing
        await Eventually.TrueAsync(async () => await b.GetOrCreateAsync("kept", never.InvokeAsync) == "new", PropagationBound, "B flushed L1 after the gap");
        Assert.Equal(1, metrics["scaling.cache.backplane.flushes|reason=gap"]);
        Assert.Equal(0, never.Calls);

        await _kit.PublishRawAsync("garbage that is not a message");
        await Task.Delay(50);
        Assert.Contains(_kit.Logs.Entries, e => e.Contains("malformed backplane message", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_slow_factory_that_started_before_a_Set_never_overwrites_it()
    {
        var a = await _kit.CreateReadyAsync();
        var b = await _kit.CreateReadyAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var slow = b.GetOrCreateAsync("profile", async ct =>
        {
            started.SetResult();
            await release.Task.WaitAsync(ct);
            return "read before the update";
        }).AsTask();
        await started.Task;
        await a.SetAsync("profile", "updated");
        await Task.Delay(100); // B has received the invalidation
        release.SetResult();
        Assert.Equal("read before the update", await slow); // that caller asked before the update

        var never = new CountingFactory<string>(_ => "factory");
        Assert.Equal("updated", await b.GetOrCreateAsync("profile", never.InvokeAsync));
        var c = await _kit.CreateReadyAsync();
        Assert.Equal("updated", await c.GetOrCreateAsync("profile", never.InvokeAsync));
        Assert.Equal(0, never.Calls);
    }

    [Fact]
    public async Task A_slow_factory_that_started_before_a_Remove_does_not_resurrect_the_value_in_L2()
    {
        var a = await _kit.CreateReadyAsync();
        var b = await _kit.CreateReadyAsync(o => o.FactoryHardTimeout = Timeout.InfiniteTimeSpan);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slow = b.GetOrCreateAsync("slot", async ct =>
        {
            started.SetResult();
            await release.Task.WaitAsync(ct);
            return "free";
        }, new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableLocalCache }).AsTask();
        await started.Task;
        await a.RemoveAsync("slot");
        release.SetResult();
        await slow;

        var c = await _kit.CreateReadyAsync();
        var factory = new CountingFactory<string>(_ => "booked");
        Assert.Equal("booked", await c.GetOrCreateAsync("slot", factory.InvokeAsync));
    }
}
