using BenchmarkDotNet.Attributes;
using Npgsql;
using Scaling.Data;
using Microsoft.Extensions.Options;

namespace Scaling.Benchmarks.Data;

/// <summary>
/// The cost of read routing: the same query (<c>SELECT 1</c>, open + execute + close) on shard 1's replica through
/// a plain <see cref="NpgsqlDataSource"/> (the baseline) and through <see cref="ReadWriteDataSource"/>. Each case
/// runs in its own process (BenchmarkDotNet's default), so the baseline pays nothing for Scaling.Data's command
/// observer (slow-query log and duration metric), which the routed cases include.
/// </summary>
[MemoryDiagnoser]
public class ReadRoutingBenchmarks
{
    private Testing.TestServers? _servers;
    private NpgsqlDataSource? _direct;
    private ReadWriteDataSource? _routed;
    private ConsistencyToken _token;

    /// <summary>Starts the servers and the plain data source on the replica.</summary>
    [GlobalSetup(Target = nameof(DirectNpgsqlDataSource))]
    public async Task SetupDirectAsync()
    {
        _servers = await Testing.TestServers.StartAsync();
        _direct = NpgsqlDataSource.Create(_servers.Shard1Replica.ConnectionString());
    }

    /// <summary>Starts the servers and a routed data source whose replica is checked and has replayed the token.</summary>
    [GlobalSetup(Targets = [nameof(RoutedRead), nameof(RoutedReadWithToken), nameof(RoutedReadAsync)])]
    public Task SetupRoutedAsync() => SetupRoutedAsync(observeCommands: true);

    /// <summary>The same with <see cref="ScalingDataOptions.ObserveCommands"/> off (no per-command activity).</summary>
    [GlobalSetup(Target = nameof(RoutedReadUnobserved))]
    public Task SetupUnobservedAsync() => SetupRoutedAsync(observeCommands: false);

    private async Task SetupRoutedAsync(bool observeCommands)
    {
        _servers = await Testing.TestServers.StartAsync();
        _routed = new ReadWriteDataSource(Options.Create(new ScalingDataOptions
        {
            Name = "benchmark",
            PrimaryConnectionString = _servers.Shard1Primary.ConnectionString(),
            ReplicaConnectionStrings = { _servers.Shard1Replica.ConnectionString() },
            ObserveCommands = observeCommands,
        }));
        _token = await _routed.GetConsistencyTokenAsync();
        while (!_token.IsReachedBy(await _servers.Shard1Replica.GetReplayLsnAsync()))
        {
            await Task.Delay(10);
        }

        await _routed.CheckReplicasAsync();
        await using var check = await _routed.OpenReadConnectionAsync(_token);
        if (check.Port != _servers.Shard1Replica.Port)
        {
            throw new InvalidOperationException("The routed read did not go to the replica.");
        }
    }

    /// <summary>Stops everything.</summary>
    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        if (_direct is not null)
        {
            await _direct.DisposeAsync();
        }

        if (_routed is not null)
        {
            await _routed.DisposeAsync();
        }

        if (_servers is not null)
        {
            await _servers.DisposeAsync();
        }
    }

    /// <summary>Baseline: a plain Npgsql data source on the replica.</summary>
    [Benchmark(Baseline = true)]
    public async Task<int> DirectNpgsqlDataSource()
    {
        await using var connection = await _direct!.OpenConnectionAsync();
        return await SelectOneAsync(connection);
    }

    /// <summary><see cref="ReadWriteDataSource.OpenReadConnectionAsync"/> without a token.</summary>
    [Benchmark]
    public async Task<int> RoutedRead()
    {
        await using var connection = await _routed!.OpenReadConnectionAsync();
        return await SelectOneAsync(connection);
    }

    /// <summary><see cref="ReadWriteDataSource.OpenReadConnectionAsync"/> without a token, command observation off.</summary>
    [Benchmark]
    public async Task<int> RoutedReadUnobserved()
    {
        await using var connection = await _routed!.OpenReadConnectionAsync();
        return await SelectOneAsync(connection);
    }

    /// <summary><see cref="ReadWriteDataSource.OpenReadConnectionAsync"/> with a consistency token the replica has reached.</summary>
    [Benchmark]
    public async Task<int> RoutedReadWithToken()
    {
        await using var connection = await _routed!.OpenReadConnectionAsync(_token);
        return await SelectOneAsync(connection);
    }

    /// <summary><see cref="ReadWriteDataSource.ReadAsync{T}"/> (retry pipeline and circuit breaker included).</summary>
    [Benchmark]
    public Task<int> RoutedReadAsync() => _routed!.ReadAsync(static (connection, _) => SelectOneAsync(connection));

    private static async Task<int> SelectOneAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        return (int)(await command.ExecuteScalarAsync())!;
    }
}
