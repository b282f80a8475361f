using System.Collections.Concurrent;
using System.Diagnostics;
using Scaling.Testing;
using Xunit.Abstractions;

namespace Scaling.Cache.Tests;

/// <summary>The cache with L2 and the backplane on a real Redis Cluster (3 masters, 1 replica each).</summary>
[Collection(ServersCollection.Name)]
public sealed class ClusterTests(ServersFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan PropagationBound = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Two_instances_stay_coherent_on_a_cluster_and_the_tag_versions_spread_over_its_masters()
    {
        var cluster = await fixture.Servers.StartRedisClusterAsync();
        await using var kit = new CacheTestKit(fixture.Servers, "cluster", cluster.Configuration);
        var a = await kit.CreateReadyAsync();
        var b = await kit.CreateReadyAsync();
        var never = new CountingFactory<string>(_ => "factory");

        // A write on A reaches B: through L2 for a key B never read, through the backplane for one B holds in L1.
        for (var version = 1; version <= 10; version++)
        {
            await a.SetAsync("counter", "v" + version);
            var watch = Stopwatch.StartNew();
            while (await b.GetOrCreateAsync("counter", never.InvokeAsync) != "v" + version)
            {
                Assert.True(watch.Elapsed < PropagationBound, $"B still served an old value {watch.Elapsed.TotalMilliseconds:0} ms after A wrote v{version}");
                await Task.Delay(1);
            }
        }

        // Tags: one entry per tag on B, each tag invalidated on A; B recomputes every one of them.
        var factory = new CountingFactory<string>(n => "made-" + n);
        const int tags = 40;
        for (var i = 0; i < tags; i++)
        {
            await b.GetOrCreateAsync("tagged-" + i, factory.InvokeAsync, tags: ["tag-" + i]);
        }

        for (var i = 0; i < tags; i++)
        {
            await a.RemoveByTagAsync("tag-" + i);
        }

        await Eventually.TrueAsync(
            async () =>
            {
                for (var i = 0; i < tags; i++)
                {
                    if (await b.GetOrCreateAsync("tagged-" + i, never.InvokeAsync, tags: ["tag-" + i]) is not "factory")
                    {
                        return false;
                    }
                }

                return true;
            },
            PropagationBound * 5,
            "B dropped every entry whose tag A invalidated");

        // A tenant drop on A drops only that tenant's entries on B.
        var acme = TenantCacheKeys.Key("acme", "services");
        var globex = TenantCacheKeys.Key("globex", "services");
        Assert.Equal("acme-1", await b.GetOrCreateAsync(acme, _ => ValueTask.FromResult("acme-1")));
        Assert.Equal("globex-1", await b.GetOrCreateAsync(globex, _ => ValueTask.FromResult("globex-1")));
        await a.RemoveTenantAsync("acme");
        await Eventually.TrueAsync(
            async () => await b.GetOrCreateAsync(acme, _ => ValueTask.FromResult("acme-2")) == "acme-2",
            PropagationBound,
            "B dropped acme's entry");
        Assert.Equal("globex-1", await b.GetOrCreateAsync(globex, never.InvokeAsync));

        // Where the versions live: several buckets, on more than one slot and more than one master.
        var raw = await kit.RawAsync();
        var slots = new HashSet<int>();
        var masters = new HashSet<RedisServer>();
        for (var bucket = 0; bucket < 16; bucket++)
        {
            var key = kit.Prefix + "tag-versions:{" + bucket + "}";
            if (await raw.KeyExistsAsync(key))
            {
                slots.Add(await cluster.SlotOfAsync(key));
                masters.Add(await cluster.MasterForKeyAsync(key));
            }
        }

        output.WriteLine($"tag versions of {tags + 1} tags: {slots.Count} slots on {masters.Count} masters");
        Assert.True(slots.Count >= 8, $"the tag versions sit on only {slots.Count} slots");
        Assert.Equal(3, masters.Count);
    }

    [Fact]
    public async Task On_a_cluster_messages_that_overtake_each_other_are_no_gap_but_a_message_that_never_comes_is()
    {
        var cluster = await fixture.Servers.StartRedisClusterAsync();
        await using var kit = new CacheTestKit(fixture.Servers, "cluster-order", cluster.Configuration);
        var a = await kit.CreateReadyAsync();
        var b = await CacheTestKit.ReadyAsync(kit.Create(out var metricsB));

        // A's writes land on the masters of their keys, and each master forwards its PUBLISH on its own: B gets A's
        // numbers out of order, but every one of them.
        await Task.WhenAll(Enumerable.Range(0, 50).Select(async task =>
        {
            for (var i = 0; i < 40; i++)
            {
                await a.SetAsync($"k{task}-{i}", i);
            }
        }));
        await Eventually.TrueAsync(
            () => Task.FromResult(metricsB["scaling.cache.backplane.messages|direction=received"] >= 2000),
            TimeSpan.FromSeconds(10),
            "B received all 2,000 of A's messages");
        await Task.Delay(1500); // past the grace a skipped number is given
        output.WriteLine($"2,000 messages: {metricsB["scaling.cache.backplane.out_of_order"]} arrived after a later one of A's; gap flushes {metricsB["scaling.cache.backplane.flushes|reason=gap"]}");
        Assert.Equal(0, metricsB["scaling.cache.backplane.flushes|reason=gap"]);

        // A number that never arrives is still a gap (after the grace): B flushes L1.
        await b.SetAsync("held", "old");
        var raw = await kit.RawAsync();
        await raw.StringSetAsync(kit.Prefix + "held", await raw.StringGetAsync(kit.Prefix + "k0-0")); // L2 changed behind B's back
        // One at a time: a plain PUBLISH on a cluster may go through any node, so two sent at once may arrive in either order.
        var received = metricsB["scaling.cache.backplane.messages|direction=received"];
        await kit.PublishRawAsync("1|other-instance|1|K|unrelated");
        await Eventually.TrueAsync(
            () => Task.FromResult(metricsB["scaling.cache.backplane.messages|direction=received"] > received),
            TimeSpan.FromSeconds(5),
            "B received the other publisher's first message");
        await kit.PublishRawAsync("1|other-instance|3|K|unrelated"); // 2 never comes
        await Eventually.TrueAsync(
            () => Task.FromResult(metricsB["scaling.cache.backplane.flushes|reason=gap"] == 1),
            TimeSpan.FromSeconds(5),
            "B flushed L1 once the skipped number had not arrived within the grace");
        Assert.Equal(0, await b.GetOrCreateAsync("held", _ => ValueTask.FromResult(-1)));
    }

    [Fact]
    public async Task While_a_slot_moves_between_masters_writes_and_reads_go_on_and_every_write_reaches_the_other_instance()
    {
        var cluster = await fixture.Servers.StartRedisClusterAsync();
        await using var kit = new CacheTestKit(fixture.Servers, "cluster-migrate", cluster.Configuration);
        var a = await CacheTestKit.ReadyAsync(kit.Create(out var metricsA));
        var b = await CacheTestKit.ReadyAsync(kit.Create(out var metricsB));
        var never = new CountingFactory<int>(_ => -1);

        // Twenty keys in one slot (a hash tag), so the slot carries keys while it moves.
        var keys = Enumerable.Range(0, 20).Select(i => "{moving}:" + i).ToArray();
        foreach (var key in keys)
        {
            await a.SetAsync(key, 0);
        }

        var slot = await cluster.SlotOfAsync(kit.Prefix + keys[0]);
        var source = await cluster.MasterForKeyAsync(kit.Prefix + keys[0]);
        var destination = (await cluster.MastersAsync()).First(m => m != source);
        using var stop = new CancellationTokenSource();
        var version = 0;
        var writer = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var next = version + 1;
                foreach (var key in keys)
                {
                    await a.SetAsync(key, next);
                }

                Volatile.Write(ref version, next);
                await Task.Delay(5);
            }
        });
        long reads = 0;
        var reader = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (var key in keys)
                {
                    _ = await b.GetOrCreateAsync(key, never.InvokeAsync);
                    reads++;
                }

                await Task.Delay(1);
            }
        });

        await cluster.MigrateSlotAsync(slot, destination);
        await cluster.MigrateSlotAsync(slot, source);
        await stop.CancelAsync();
        await Task.WhenAll(writer, reader);

        var last = Volatile.Read(ref version);
        output.WriteLine($"slot {slot} moved {source.Name} → {destination.Name} → back while A wrote {last} rounds of {keys.Length} keys and B read {reads} times");
        Assert.True(last >= 2, $"A completed only {last} rounds of writes while the slot moved");
        foreach (var key in keys)
        {
            await Eventually.TrueAsync(async () => await b.GetOrCreateAsync(key, never.InvokeAsync) == last, PropagationBound, $"B serves A's last write of {key}");
        }

        Assert.Equal(0, never.Calls);
        Assert.Equal(0, metricsA["scaling.cache.l2.errors"]); // every write reached Redis (ASK and MOVED followed), none was left for replay
        Assert.Equal(0, metricsB["scaling.cache.l2.errors"]);
    }

    [Fact]
    public async Task While_the_backplanes_master_fails_over_under_load_reads_are_served_and_no_stale_value_outlives_the_reconnect()
    {
        var cluster = await fixture.Servers.StartRedisClusterAsync();
        await using var kit = new CacheTestKit(fixture.Servers, "cluster-failover", cluster.Configuration);
        var truth = new ConcurrentDictionary<string, string>();
        var keys = Enumerable.Range(0, 30).Select(i => "k" + i).ToArray();
        foreach (var key in keys)
        {
            truth[key] = key + "-v0";
        }

        // The factory reads the source of truth, as an application's would (the database, here a dictionary).
        ValueTask<string> Load(string key) => ValueTask.FromResult(truth[key]);
        var a = await kit.CreateReadyAsync();
        await using var bMux = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(cluster.Configuration + ",connectTimeout=1000,name=cache-b-" + kit.Prefix.TrimEnd(':'));
        var b = await CacheTestKit.ReadyAsync(kit.Create(out var metricsB, o => o.ConnectionMultiplexerFactory = () => Task.FromResult<StackExchange.Redis.IConnectionMultiplexer>(bMux)));
        foreach (var key in keys)
        {
            Assert.Equal(key + "-v0", await b.GetOrCreateAsync(key, key, (k, _) => Load(k)));
        }

        using var stop = new CancellationTokenSource();
        long served = 0, failed = 0;
        var reader = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (var key in keys)
                {
                    try
                    {
                        _ = await b.GetOrCreateAsync(key, key, (k, _) => Load(k));
                        Interlocked.Increment(ref served);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        Interlocked.Increment(ref failed);
                        output.WriteLine("read failed: " + ex.Message);
                    }
                }

                await Task.Delay(2);
            }
        });

        // Kill the node B's subscription lives on (StackExchange.Redis picks it), made a master first if it is a replica.
        var subscribedAt = await cluster.PubSubNodeOfAsync("cache-b-" + kit.Prefix.TrimEnd(':'));
        var wasMaster = await cluster.MakeMasterAsync(subscribedAt);
        output.WriteLine($"B's subscription is on {subscribedAt.Name} (a master {(wasMaster ? "already" : "after a manual failover")})");
        var failover = Stopwatch.StartNew();
        var killing = cluster.KillMasterAsync(subscribedAt);
        try
        {
            // Changes made while the master is down: the database first, then the cache (whatever reaches Redis).
            await Task.Delay(200);
            foreach (var key in keys.Take(10))
            {
                truth[key] = key + "-changed";
                await a.SetAsync(key, truth[key]);
            }

            var promoted = await killing;
            output.WriteLine($"{subscribedAt.Name} replaced by {promoted.Name} after {failover.ElapsedMilliseconds} ms");

            // Nothing stale outlives the reconnect: B serves every changed value within the bound.
            var bound = TimeSpan.FromSeconds(10);
            await Eventually.TrueAsync(
                async () =>
                {
                    foreach (var key in keys)
                    {
                        if (await b.GetOrCreateAsync(key, key, (k, _) => Load(k)) != truth[key])
                        {
                            return false;
                        }
                    }

                    return true;
                },
                bound,
                "B serves every value changed during the failover");
            output.WriteLine($"B coherent {failover.ElapsedMilliseconds} ms after the kill; served {Interlocked.Read(ref served)}, failed {Interlocked.Read(ref failed)}; " +
                $"flushes: reconnect {metricsB["scaling.cache.backplane.flushes|reason=reconnect"]}, gap {metricsB["scaling.cache.backplane.flushes|reason=gap"]}");

            // The lost subscription was noticed and restored while the killed node is still down (not only when it returns).
            await Eventually.TrueAsync(
                () => Task.FromResult(metricsB["scaling.cache.backplane.flushes|reason=reconnect"] >= 1),
                TimeSpan.FromSeconds(15),
                "B flushed L1 once its subscription delivered again");
            output.WriteLine($"subscription restored {failover.ElapsedMilliseconds} ms after the kill, on {(await cluster.PubSubNodeOfAsync("cache-b-" + kit.Prefix.TrimEnd(':'))).Name}");
        }
        finally
        {
            await stop.CancelAsync();
            await reader;
            await killing.ContinueWith(static _ => { }, TaskScheduler.Default);
            await cluster.RejoinAsync(subscribedAt);
        }

        Assert.Equal(0, Interlocked.Read(ref failed));
        Assert.True(served > keys.Length * 10, $"only {served} reads were served during the failover");

        // And the backplane works again afterwards.
        truth["k0"] = "k0-after";
        await a.SetAsync("k0", truth["k0"]);
        await Eventually.TrueAsync(async () => await b.GetOrCreateAsync("k0", "k0", (k, _) => Load(k)) == "k0-after", PropagationBound, "B saw A's write after the failover");
    }
}
