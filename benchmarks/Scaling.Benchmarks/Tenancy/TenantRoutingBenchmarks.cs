using BenchmarkDotNet.Attributes;
using Npgsql;
using Scaling.Data;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace Scaling.Benchmarks.Tenancy;

/// <summary>
/// The cost of routing a tenant from the cached shard map (10,000 tenants on 2 shards), against the baseline of a
/// plain <see cref="Dictionary{TKey, TValue}"/> lookup of the same id → shard id. No I/O in any case: the map is
/// loaded once in the setup.
/// </summary>
[MemoryDiagnoser]
public class TenantRoutingBenchmarks
{
    private const int Tenants = 10_000;
    private BenchmarkShards? _shards;
    private ShardMap? _map;
    private ShardRouter? _router;
    private Dictionary<string, string> _dictionary = [];
    private TenantId _tenant;

    /// <summary>Starts the servers, fills the metadata database with 10,000 tenants and loads the map.</summary>
    [GlobalSetup]
    public async Task SetupAsync()
    {
        _shards = await BenchmarkShards.StartAsync("bench_routing");
        _map = _shards.Map;
        _router = _shards.Router;
        await _shards.Servers.Metadata.ExecuteAsync(
            $"""
            INSERT INTO bench_routing.tenants (tenant_id, plan, shard_id, state, epoch)
            SELECT 'tenant-' || i, 'basic', CASE WHEN i % 2 = 0 THEN 'shard-1' ELSE 'shard-2' END, 'active', 1 FROM generate_series(1, {Tenants}) i;
            UPDATE bench_routing.map_epoch SET epoch = epoch + 1;
            """,
            Testing.PostgresServer.MetadataDatabase);
        await _map.RefreshAsync();
        _dictionary = _map.Tenants.ToDictionary(t => t.Id.Value, t => t.ShardId, StringComparer.Ordinal);
        _tenant = TenantId.Parse("tenant-4242");
        if (_map.Tenants.Count != Tenants || !_map.TryGetTenant(_tenant, out var placement) || placement.ShardId != "shard-1" || _router.GetShard("shard-1") is null)
        {
            throw new InvalidOperationException("The benchmark map was not loaded as expected.");
        }
    }

    /// <summary>Disposes the router, the map and the servers.</summary>
    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _shards!.DisposeAsync();
    }

    /// <summary>Baseline: a plain dictionary from tenant id to shard id.</summary>
    [Benchmark(Baseline = true)]
    public string? DictionaryLookup() => _dictionary.TryGetValue(_tenant.Value, out var shard) ? shard : null;

    /// <summary>The map's cached placement (the routing fast path).</summary>
    [Benchmark]
    public TenantPlacement? ShardMapTryGetTenant() => _map!.TryGetTenant(_tenant, out var placement) ? placement : null;

    /// <summary><see cref="ShardRouter.RouteAsync"/>, which completes synchronously from the cached map.</summary>
    [Benchmark]
    public ValueTask<TenantPlacement> RouterRouteAsync() => _router!.RouteAsync(_tenant);

    /// <summary>Tenant → placement → that shard's <see cref="ReadWriteDataSource"/> (what every tenant transaction does first).</summary>
    [Benchmark]
    public ReadWriteDataSource RouteToShardDataSource() => _router!.GetShard(_map!.TryGetTenant(_tenant, out var placement) ? placement.ShardId : "shard-1");
}
