using Microsoft.Extensions.Options;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace Scaling.Benchmarks.Tenancy;

/// <summary>
/// The test servers with a shard map and a router over them (shard 1 with its replica, and shard 2), in their own
/// metadata schema: the set-up the Tenancy suites share.
/// </summary>
internal sealed class BenchmarkShards : IAsyncDisposable
{
    /// <summary>The role tenant transactions run as.</summary>
    public const string TenantRole = "scaling_tenant";

    private BenchmarkShards(Testing.TestServers servers, ShardMap map, ShardRouter router)
    {
        Servers = servers;
        Map = map;
        Router = router;
    }

    public Testing.TestServers Servers { get; }

    public ShardMap Map { get; }

    public ShardRouter Router { get; }

    public TenantAdministration Admin => new(Router);

    /// <summary>Starts the servers and registers both shards in <paramref name="metadataSchema"/>.</summary>
    public static async Task<BenchmarkShards> StartAsync(string metadataSchema)
    {
        var servers = await Testing.TestServers.StartAsync();
        var options = new ScalingTenancyOptions
        {
            MetadataConnectionString = servers.Metadata.ConnectionString(),
            MetadataSchema = metadataSchema,
            TenantRole = TenantRole,
        };
        var map = new ShardMap(Options.Create(options));
        var shards = new BenchmarkShards(servers, map, new ShardRouter(Options.Create(options), map));
        await shards.Admin.AddShardAsync(new ShardInfo("shard-1", servers.Shard1Primary.ConnectionString(), [servers.Shard1Replica.ConnectionString()]));
        await shards.Admin.AddShardAsync(new ShardInfo("shard-2", servers.Shard2Primary.ConnectionString()));
        return shards;
    }

    /// <summary>
    /// Starts the servers (see <see cref="StartAsync"/>), creates <paramref name="table"/> on shard 1 with
    /// <paramref name="columns"/> under row-level security for the tenant role, and places <paramref name="tenant"/> on
    /// shard 1: the set-up of the suites that measure a tenant's transactions.
    /// </summary>
    public static async Task<BenchmarkShards> StartWithTenantTableAsync(string metadataSchema, TenantId tenant, string table, string columns)
    {
        var shards = await StartAsync(metadataSchema);
        await shards.Servers.Shard1Primary.ExecuteAsync($"CREATE TABLE {table} ({columns}); {RowLevelSecurity.EnableSql(table, TenantRole)}");
        await shards.Admin.CreateTenantAsync(tenant, "basic", "shard-1");
        return shards;
    }

    /// <summary>Disposes the router, the map and the servers.</summary>
    public async ValueTask DisposeAsync()
    {
        await Router.DisposeAsync();
        await Map.DisposeAsync();
        await Servers.DisposeAsync();
    }
}
