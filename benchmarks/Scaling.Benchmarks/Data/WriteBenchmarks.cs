using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Scaling.Data;

namespace Scaling.Benchmarks.Data;

/// <summary>
/// A write with its read-your-writes token, on shard 1's primary: two inserts in a transaction, committed, then the
/// primary's WAL insert position. By hand with Npgsql (the baseline: the commands, <c>COMMIT</c> and the position's
/// query, three round trips), through <see cref="ReadWriteDataSource.WriteAsync{T}"/> (the same three, plus retries,
/// the circuit breaker and the span) and through <see cref="ReadWriteDataSource.WriteBatchAsync{T}"/> (all of it in one
/// round trip).
/// </summary>
[MemoryDiagnoser]
public class WriteBenchmarks
{
    private const string Insert = "INSERT INTO write_benchmark (note) VALUES ($1)";
    private Testing.TestServers? _servers;
    private NpgsqlDataSource? _direct;
    private ReadWriteDataSource? _routed;

    /// <summary>Starts the servers, the table and both data sources.</summary>
    [GlobalSetup]
    public async Task SetupAsync()
    {
        _servers = await Testing.TestServers.StartAsync();
        await _servers.Shard1Primary.ExecuteAsync("CREATE TABLE IF NOT EXISTS write_benchmark (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text NOT NULL)");
        _direct = NpgsqlDataSource.Create(_servers.Shard1Primary.ConnectionString());
        _routed = new ReadWriteDataSource(Options.Create(new ScalingDataOptions
        {
            Name = "benchmark",
            PrimaryConnectionString = _servers.Shard1Primary.ConnectionString(),
        }));
    }

    /// <summary>Stops everything.</summary>
    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        if (_routed is not null)
        {
            await _routed.DisposeAsync();
        }

        if (_direct is not null)
        {
            await _direct.DisposeAsync();
        }

        if (_servers is not null)
        {
            await _servers.DisposeAsync();
        }
    }

    /// <summary>Baseline: by hand, one command per insert in a transaction, its commit, then the position.</summary>
    [Benchmark(Baseline = true)]
    public async Task<NpgsqlLogSequenceNumber> ByHand()
    {
        await using var connection = await _direct!.OpenConnectionAsync();
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await using var batch = new NpgsqlBatch(connection, transaction)
            {
                BatchCommands = { new NpgsqlBatchCommand(Insert) { Parameters = { new() { Value = "a" } } }, new NpgsqlBatchCommand(Insert) { Parameters = { new() { Value = "b" } } } },
            };
            await batch.ExecuteNonQueryAsync();
            await transaction.CommitAsync();
        }

        await using var position = new NpgsqlCommand("SELECT pg_current_wal_insert_lsn()", connection);
        return (NpgsqlLogSequenceNumber)(await position.ExecuteScalarAsync())!;
    }

    /// <summary><see cref="ReadWriteDataSource.WriteAsync{T}"/>: the same round trips, with retries, breaker and span.</summary>
    [Benchmark]
    public async Task<ConsistencyToken?> WriteAsync()
    {
        var result = await _routed!.WriteAsync(static async (transaction, ct) =>
        {
            await using var batch = new NpgsqlBatch(transaction.Connection, transaction)
            {
                BatchCommands = { new NpgsqlBatchCommand(Insert) { Parameters = { new() { Value = "a" } } }, new NpgsqlBatchCommand(Insert) { Parameters = { new() { Value = "b" } } } },
            };
            return await batch.ExecuteNonQueryAsync(ct);
        });
        return result.Token;
    }

    /// <summary><see cref="ReadWriteDataSource.WriteBatchAsync{T}"/>: the inserts, <c>COMMIT</c> and the position in one round trip.</summary>
    [Benchmark]
    public async Task<ConsistencyToken?> WriteBatchAsync()
    {
        var result = await _routed!.WriteBatchAsync(
            static batch =>
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand(Insert) { Parameters = { new() { Value = "a" } } });
                batch.BatchCommands.Add(new NpgsqlBatchCommand(Insert) { Parameters = { new() { Value = "b" } } });
            },
            static commands => commands.Sum(c => c.RecordsAffected));
        return result.Token;
    }
}
