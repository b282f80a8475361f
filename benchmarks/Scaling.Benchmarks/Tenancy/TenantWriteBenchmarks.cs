using BenchmarkDotNet.Attributes;
using Npgsql;
using Scaling.Data;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace Scaling.Benchmarks.Tenancy;

/// <summary>
/// What a tenant's entry costs a write and a read on its shard's primary: one insert committed with its read-your-writes
/// token through the shard's <see cref="ReadWriteDataSource"/> with no tenant (the baseline: no ownership check, no
/// row-level security, no tenant role), and the same through <see cref="ShardRouter"/> as the tenant, in one batch
/// (<see cref="ShardRouter.WriteBatchAsync{T}"/>) and with a callback (<see cref="ShardRouter.WriteAsync{T}"/>); and a
/// one-row read as the tenant (<see cref="ShardRouter.ReadFromPrimaryAsync{T}"/>).
/// </summary>
[MemoryDiagnoser]
public class TenantWriteBenchmarks
{
    private const string Insert = "INSERT INTO bench_tenant_notes (tenant_id, body) VALUES ($1, 'note')";
    private BenchmarkShards? _shards;
    private ShardRouter? _router;
    private ReadWriteDataSource? _shard;
    private TenantId _tenant;

    /// <summary>Starts the servers, places a tenant on shard 1 and creates its table under row-level security.</summary>
    [GlobalSetup]
    public async Task SetupAsync()
    {
        _tenant = TenantId.Parse("bench-write");
        _shards = await BenchmarkShards.StartWithTenantTableAsync(
            "bench_write", _tenant, "bench_tenant_notes", "tenant_id text NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL");
        _router = _shards.Router;
        _shard = _router.GetShard("shard-1");
        if (await Shard_WriteBatchAsync() != 1 || await Tenant_WriteBatchAsync() != 1 || await Tenant_WriteAsync() != 1 || await Tenant_ReadFromPrimaryAsync() != "note")
        {
            throw new InvalidOperationException("The benchmark tenant was not set up as expected.");
        }
    }

    /// <summary>Disposes the router, the map and the servers.</summary>
    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _shards!.DisposeAsync();
    }

    /// <summary>Baseline: the insert, <c>COMMIT</c> and token in one batch on the shard, with no tenant entry.</summary>
    [Benchmark(Baseline = true)]
    public async Task<int> Shard_WriteBatchAsync()
        => (await _shard!.WriteBatchAsync(AddInsert, commands => commands[0].RecordsAffected)).Value;

    /// <summary>The same as the tenant: its entry first in the same batch.</summary>
    [Benchmark]
    public async Task<int> Tenant_WriteBatchAsync()
        => (await _router!.WriteBatchAsync(_tenant, AddInsert, commands => commands[0].RecordsAffected)).Value;

    /// <summary>The same as the tenant with a callback: the entry, the insert, <c>COMMIT</c> and the token in turn.</summary>
    [Benchmark]
    public async Task<int> Tenant_WriteAsync()
        => (await _router!.WriteAsync(_tenant, async (tx, ct) =>
        {
            await using var command = new NpgsqlCommand(Insert, tx.Connection, tx);
            command.Parameters.Add(new() { Value = _tenant.Value });
            return await command.ExecuteNonQueryAsync(ct);
        })).Value;

    /// <summary>A one-row read as the tenant on the primary: the entry, the query, <c>COMMIT</c>.</summary>
    [Benchmark]
    public Task<string?> Tenant_ReadFromPrimaryAsync()
        => _router!.ReadFromPrimaryAsync(_tenant, async (connection, ct) =>
        {
            await using var command = new NpgsqlCommand("SELECT body FROM bench_tenant_notes LIMIT 1", connection);
            return (string?)await command.ExecuteScalarAsync(ct);
        });

    private void AddInsert(NpgsqlBatch batch)
    {
        var command = new NpgsqlBatchCommand(Insert);
        command.Parameters.Add(new() { Value = _tenant.Value });
        batch.BatchCommands.Add(command);
    }
}
