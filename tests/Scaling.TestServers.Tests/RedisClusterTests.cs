using Scaling.Testing;

namespace Scaling.TestServers.Tests;

[Collection(ServersCollection.Name)]
public sealed class RedisClusterTests(ServersFixture fixture)
{
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task The_cluster_has_three_masters_each_with_one_replica_covering_every_slot()
    {
        var cluster = await _servers.StartRedisClusterAsync();
        var topology = await cluster.TopologyAsync();

        Assert.Equal(6, topology.Count);
        var masters = topology.Where(n => n.IsMaster).ToList();
        Assert.Equal(3, masters.Count);
        Assert.Equal(RedisCluster.SlotCount, masters.Sum(m => m.Slots.Sum(r => r.End - r.Start + 1)));
        Assert.All(masters, m => Assert.Single(topology, r => r.MasterId == m.Id));
        Assert.Same(cluster, await _servers.StartRedisClusterAsync()); // one cluster per set
        Assert.DoesNotContain(cluster.Nodes, n => _servers.Redis.Contains(n));
    }

    [Fact]
    public async Task A_killed_master_is_replaced_by_its_replica_and_rejoins_as_a_replica_with_the_data()
    {
        var cluster = await _servers.StartRedisClusterAsync();
        var key = "harness:" + Guid.NewGuid().ToString("N");
        var master = await cluster.MasterForKeyAsync(key);
        await cluster.CommandAsync(master, ["SET", key, "v1"]);
        await cluster.CommandAsync(master, ["WAIT", "1", "2000"]); // on the replica before the crash

        var promoted = await cluster.KillMasterAsync(master);
        try
        {
            Assert.NotSame(master, promoted);
            Assert.Same(promoted, await cluster.MasterForKeyAsync(key));
            Assert.Equal("v1", await cluster.CommandAsync(promoted, ["GET", key]));
        }
        finally
        {
            await cluster.RejoinAsync(master);
        }

        var rejoined = (await cluster.TopologyAsync()).Single(n => n.Server == master);
        Assert.False(rejoined.IsMaster);
        Assert.Same(master, await cluster.ReplicaOfAsync(promoted));
        Assert.NotEqual("0", await cluster.CommandAsync(master, ["DBSIZE"])); // resynchronised from its successor
    }

    [Fact]
    public async Task A_manual_failover_swaps_master_and_replica_without_losing_a_write()
    {
        var cluster = await _servers.StartRedisClusterAsync();
        var key = "harness:" + Guid.NewGuid().ToString("N");
        var master = await cluster.MasterForKeyAsync(key);
        await cluster.CommandAsync(master, ["SET", key, "v1"]);

        var promoted = await cluster.FailoverAsync(master);

        Assert.Same(promoted, await cluster.MasterForKeyAsync(key));
        Assert.Equal("v1", await cluster.CommandAsync(promoted, ["GET", key]));
        Assert.DoesNotContain(master, await cluster.MastersAsync());
        Assert.Equal(master, await cluster.ReplicaOfAsync(promoted));
    }

    [Fact]
    public async Task A_slot_moves_to_another_master_with_its_keys()
    {
        var cluster = await _servers.StartRedisClusterAsync();
        var key = "harness:{" + Guid.NewGuid().ToString("N") + "}";
        var slot = await cluster.SlotOfAsync(key);
        var source = await cluster.MasterForKeyAsync(key);
        await cluster.CommandAsync(source, ["SET", key, "moved-with-its-slot"]);
        var destination = (await cluster.MastersAsync()).First(m => m != source);

        await cluster.MigrateSlotAsync(slot, destination);

        Assert.Same(destination, await cluster.MasterForKeyAsync(key));
        Assert.Equal("moved-with-its-slot", await cluster.CommandAsync(destination, ["GET", key]));
        var refused = await Assert.ThrowsAsync<TestServerException>(() => cluster.CommandAsync(source, ["GET", key]));
        Assert.Contains("MOVED " + slot, refused.Message, StringComparison.Ordinal);
        await cluster.MigrateSlotAsync(slot, source); // back, so other tests find the layout they expect
    }
}
