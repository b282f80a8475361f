using BenchmarkDotNet.Attributes;
using Npgsql;
using Scaling.Data;

namespace Scaling.Benchmarks.Data;

/// <summary>
/// The routing's own cost, which a loopback round trip hides in <see cref="ReadRoutingBenchmarks"/>: a pooled open and
/// a close, no command (Npgsql sends nothing on either), on shard 1's replica through a plain
/// <see cref="NpgsqlDataSource"/> (the baseline), through Npgsql's multi-host data source with
/// <see cref="TargetSessionAttributes.PreferStandby"/> (the peer: a host-state lookup and a round-robin index), and
/// through <see cref="ReadWriteDataSource"/> (a replica loop over health and breaker state, the per-server circuit
/// breaker, the read retry pipeline, the reads counter). <see cref="RoutedOpenWithoutRetries"/> has
/// <see cref="ScalingDataOptions.MaxRetryAttempts"/> at 0: the difference to <see cref="RoutedOpen"/> is what failing
/// over to another server within the same call costs when nothing fails. No command runs, so command observation
/// plays no part. Each case runs in its own process.
/// </summary>
[MemoryDiagnoser]
public class ReadRoutingOpenBenchmarks
{
    private ReadRoutingServers? _set;
    private NpgsqlDataSource? _direct;
    private NpgsqlDataSource? _preferStandby;
    private ReadWriteDataSource? _routed;
    private ConsistencyToken _token;

    /// <summary>Starts the servers and the plain data source on the replica.</summary>
    [GlobalSetup(Target = nameof(DirectOpen))]
    public async Task SetupDirectAsync() => _direct = (_set = await ReadRoutingServers.StartDirectAsync()).Direct;

    /// <summary>Starts the servers and the peer, set up as in <see cref="ReadRoutingBenchmarks"/>.</summary>
    [GlobalSetup(Target = nameof(NpgsqlMultiHostOpen))]
    public async Task SetupMultiHostAsync() => _preferStandby = (_set = await ReadRoutingServers.StartMultiHostAsync()).PreferStandby;

    /// <summary>Starts the servers and a routed data source (default options) whose replica is checked and has replayed the token.</summary>
    [GlobalSetup(Targets = [nameof(RoutedOpen), nameof(RoutedOpenWithToken)])]
    public Task SetupRoutedAsync() => SetupRoutedAsync(maxRetryAttempts: new ScalingDataOptions().MaxRetryAttempts);

    /// <summary>The same without the read retry pipeline.</summary>
    [GlobalSetup(Target = nameof(RoutedOpenWithoutRetries))]
    public Task SetupWithoutRetriesAsync() => SetupRoutedAsync(maxRetryAttempts: 0);

    private async Task SetupRoutedAsync(int maxRetryAttempts)
    {
        _set = await ReadRoutingServers.StartRoutedAsync(o => o.MaxRetryAttempts = maxRetryAttempts);
        (_routed, _token) = (_set.Routed, _set.Token);
    }

    /// <summary>Stops everything.</summary>
    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        if (_set is not null)
        {
            await _set.DisposeAsync();
        }
    }

    /// <summary>Baseline: open and close on a plain Npgsql data source on the replica.</summary>
    [Benchmark(Baseline = true)]
    public async Task<int> DirectOpen()
    {
        await using var connection = await _direct!.OpenConnectionAsync();
        return connection.ProcessID;
    }

    /// <summary>The peer: Npgsql's multi-host data source with <see cref="TargetSessionAttributes.PreferStandby"/>.</summary>
    [Benchmark]
    public async Task<int> NpgsqlMultiHostOpen()
    {
        await using var connection = await _preferStandby!.OpenConnectionAsync();
        return connection.ProcessID;
    }

    /// <summary><see cref="ReadWriteDataSource.OpenReadConnectionAsync"/> without a token.</summary>
    [Benchmark]
    public async Task<int> RoutedOpen()
    {
        await using var connection = await _routed!.OpenReadConnectionAsync();
        return connection.ProcessID;
    }

    /// <summary><see cref="ReadWriteDataSource.OpenReadConnectionAsync"/> with a consistency token the replica has reached.</summary>
    [Benchmark]
    public async Task<int> RoutedOpenWithToken()
    {
        await using var connection = await _routed!.OpenReadConnectionAsync(_token);
        return connection.ProcessID;
    }

    /// <summary><see cref="RoutedOpen"/> with <see cref="ScalingDataOptions.MaxRetryAttempts"/> at 0 (no failover within the call).</summary>
    [Benchmark]
    public async Task<int> RoutedOpenWithoutRetries()
    {
        await using var connection = await _routed!.OpenReadConnectionAsync();
        return connection.ProcessID;
    }
}
