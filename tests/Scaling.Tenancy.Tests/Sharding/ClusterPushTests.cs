using Scaling.Tenancy.Sharding;
using Scaling.Testing;
using Xunit.Abstractions;

namespace Scaling.Tenancy.Tests.Sharding;

/// <summary>The shard map's push over a real Redis Cluster (3 masters, 1 replica each).</summary>
[Collection(ServersCollection.Name)]
public sealed class ClusterPushTests(ServersFixture fixture, ITestOutputHelper output)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task A_change_reaches_another_instance_over_a_cluster_push_before_and_after_the_subscribers_node_fails_over()
    {
        var cluster = await Servers.StartRedisClusterAsync();
        await using var a = await TenancyTestKit.StartAsync(Servers, o => o.RedisConfiguration = cluster.Configuration);
        var name = "tenancy-b-" + Guid.NewGuid().ToString("N")[..8];
        await using var bMux = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(cluster.Configuration + ",name=" + name);
        var bOptions = TenancyTestKit.NewOptions(Servers, o =>
        {
            o.MetadataSchema = a.Options.MetadataSchema;
            o.MapChannel = a.Options.MapChannel;
            o.RedisConfiguration = null;
            o.ConnectionMultiplexerFactory = () => Task.FromResult<StackExchange.Redis.IConnectionMultiplexer>(bMux);
        });
        await using var b = await TenancyTestKit.ConnectAsync(bOptions);
        await Eventually.TrueAsync(() => Task.FromResult(b.Map.IsPushConnected), TimeSpan.FromSeconds(10), "instance B subscribed");

        // The periodic refresh is 30 s: only the push can bring B's epoch up to A's within these waits.
        await a.Admin.CreateTenantAsync(TenancyTestKit.NewTenantId(), "premium", "shard-2");
        await Eventually.TrueAsync(() => Task.FromResult(b.Map.Epoch == a.Map.Epoch), TimeSpan.FromSeconds(5), "instance B got the first change pushed");

        // The node that holds B's subscription (made a master first, if it is a replica) is killed.
        var subscriber = await cluster.PubSubNodeOfAsync(name);
        await cluster.MakeMasterAsync(subscriber);

        var promoted = await cluster.KillMasterAsync(subscriber);
        try
        {
            output.WriteLine($"{subscriber.Name} (B's subscription) killed, {promoted.Name} took over");
            await Eventually.TrueAsync(() => Task.FromResult(b.Map.IsPushConnected), TimeSpan.FromSeconds(15), "instance B subscribed again");
            var epoch = a.Map.Epoch;
            await a.Admin.CreateTenantAsync(TenancyTestKit.NewTenantId(), "basic", "shard-1");
            Assert.True(a.Map.Epoch > epoch);
            await Eventually.TrueAsync(
                () => Task.FromResult(b.Map.Epoch == a.Map.Epoch),
                TimeSpan.FromSeconds(10),
                "instance B got a change pushed after its node was killed, while that node is still down");
        }
        finally
        {
            await cluster.RejoinAsync(subscriber);
        }
    }
}
