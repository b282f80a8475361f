using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Npgsql;
using Scaling.Data;

namespace Scaling.Benchmarks.Data;

/// <summary>
/// The cost of read routing: the same query (<c>SELECT 1</c>, open + execute + close) on shard 1's replica through
/// a plain <see cref="NpgsqlDataSource"/> (the baseline), through the peer, Npgsql's own
/// <see cref="NpgsqlMultiHostDataSource"/> over the primary and the replica with
/// <see cref="TargetSessionAttributes.PreferStandby"/>, and through <see cref="ReadWriteDataSource"/>. Each case
/// runs in its own process (BenchmarkDotNet's default), so the baseline and the plain peer pay nothing for
/// Scaling.Data's command observer (slow-query log and duration metric: one Npgsql activity per command), which the
/// observed routed cases include. Like with like: <see cref="RoutedReadUnobserved"/> against
/// <see cref="NpgsqlMultiHost"/>, and <see cref="RoutedRead"/> against <see cref="NpgsqlMultiHostTraced"/> (the peer
/// with Npgsql's command activities listened to, as a tracer would, which is the least any per-command observation
/// of the peer costs).
/// </summary>
[MemoryDiagnoser]
public class ReadRoutingBenchmarks
{
    private ReadRoutingServers? _set;
    private NpgsqlDataSource? _direct;
    private NpgsqlDataSource? _preferStandby;
    private ActivityListener? _npgsqlTracer;
    private ReadWriteDataSource? _routed;
    private ConsistencyToken _token;

    /// <summary>Starts the servers and the plain data source on the replica.</summary>
    [GlobalSetup(Target = nameof(DirectNpgsqlDataSource))]
    public async Task SetupDirectAsync() => _direct = (_set = await ReadRoutingServers.StartDirectAsync()).Direct;

    /// <summary>Starts the servers and the peer as Npgsql's docs set it up for reads (<see cref="ReadRoutingServers.StartMultiHostAsync"/>).</summary>
    [GlobalSetup(Target = nameof(NpgsqlMultiHost))]
    public async Task SetupMultiHostAsync() => _preferStandby = (_set = await ReadRoutingServers.StartMultiHostAsync()).PreferStandby;

    /// <summary>The same with a process-wide listener sampling Npgsql's command activities, as a tracer would.</summary>
    [GlobalSetup(Target = nameof(NpgsqlMultiHostTraced))]
    public async Task SetupMultiHostTracedAsync()
    {
        _npgsqlTracer = new ActivityListener
        {
            ShouldListenTo = static source => source.Name == "Npgsql",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
        };
        ActivitySource.AddActivityListener(_npgsqlTracer);
        _preferStandby = (_set = await ReadRoutingServers.StartMultiHostAsync()).PreferStandby;
        var traces = 0;
        _npgsqlTracer.ActivityStopped = _ => traces++;
        await using (var check = await _preferStandby!.OpenConnectionAsync())
        {
            await SelectOneAsync(check);
        }

        _npgsqlTracer.ActivityStopped = null;
        if (traces == 0)
        {
            throw new InvalidOperationException("Npgsql created no command activity for the listener.");
        }
    }

    /// <summary>Starts the servers and a routed data source whose replica is checked and has replayed the token.</summary>
    [GlobalSetup(Targets = [nameof(RoutedRead), nameof(RoutedReadWithToken), nameof(RoutedReadAsync)])]
    public Task SetupRoutedAsync() => SetupRoutedAsync(observeCommands: true);

    /// <summary>The same with <see cref="ScalingDataOptions.ObserveCommands"/> off (no per-command activity).</summary>
    [GlobalSetup(Target = nameof(RoutedReadUnobserved))]
    public Task SetupUnobservedAsync() => SetupRoutedAsync(observeCommands: false);

    private async Task SetupRoutedAsync(bool observeCommands)
    {
        _set = await ReadRoutingServers.StartRoutedAsync(o => o.ObserveCommands = observeCommands);
        (_routed, _token) = (_set.Routed, _set.Token);
    }

    /// <summary>Stops everything.</summary>
    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        _npgsqlTracer?.Dispose();
        if (_set is not null)
        {
            await _set.DisposeAsync();
        }
    }

    /// <summary>Baseline: a plain Npgsql data source on the replica.</summary>
    [Benchmark(Baseline = true)]
    public async Task<int> DirectNpgsqlDataSource()
    {
        await using var connection = await _direct!.OpenConnectionAsync();
        return await SelectOneAsync(connection);
    }

    /// <summary>The peer: Npgsql's multi-host data source with <see cref="TargetSessionAttributes.PreferStandby"/> (no token possible).</summary>
    [Benchmark]
    public async Task<int> NpgsqlMultiHost()
    {
        await using var connection = await _preferStandby!.OpenConnectionAsync();
        return await SelectOneAsync(connection);
    }

    /// <summary>The peer with Npgsql's command activities listened to (the counterpart of <see cref="RoutedRead"/>).</summary>
    [Benchmark]
    public async Task<int> NpgsqlMultiHostTraced()
    {
        await using var connection = await _preferStandby!.OpenConnectionAsync();
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
