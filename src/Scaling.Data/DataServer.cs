using Npgsql;
using Polly;
using Polly.CircuitBreaker;

namespace Scaling.Data;

/// <summary>
/// One server of a <see cref="ReadWriteDataSource"/>: its Npgsql data source, its circuit breaker and, for a
/// replica, what the health monitor last saw.
/// </summary>
internal sealed class DataServer : IAsyncDisposable
{
    private readonly ResiliencePipeline _breaker;
    private readonly CircuitBreakerStateProvider _breakerState;
    private readonly CircuitBreakerManualControl _breakerControl;
    private long _replayLsn;
    private volatile ReplicaHealth _health = ReplicaHealth.Unknown;

    public DataServer(
        string name,
        ServerRole role,
        NpgsqlDataSource dataSource,
        ResiliencePipeline breaker,
        CircuitBreakerStateProvider breakerState,
        CircuitBreakerManualControl breakerControl)
    {
        Name = name;
        Role = role;
        DataSource = dataSource;
        _breaker = breaker;
        _breakerState = breakerState;
        _breakerControl = breakerControl;
    }

    public string Name { get; }

    public ServerRole Role { get; }

    public NpgsqlDataSource DataSource { get; }

    public ReplicaHealth Health
    {
        get => _health;
        set => _health = value;
    }

    /// <summary>The highest replay position seen; replay positions only grow, so any seen value is a safe lower bound.</summary>
    public ulong ReplayLsn => (ulong)Interlocked.Read(ref _replayLsn);

    public bool? InRecovery { get; set; }

    public long? LagBytes { get; set; }

    public TimeSpan? LagTime { get; set; }

    public string? Reason { get; set; }

    public DateTimeOffset? LastChecked { get; set; }

    public int HealthyStreak { get; set; }

    public bool CircuitOpen => _breakerState.CircuitState is CircuitState.Open or CircuitState.Isolated;

    /// <summary>Whether reads may be routed here now (not ejected, breaker not open).</summary>
    public bool TakesReads => _health != ReplicaHealth.Ejected && !CircuitOpen;

    public void ObserveReplayLsn(ulong lsn)
    {
        var seen = Interlocked.Read(ref _replayLsn);
        while ((ulong)seen < lsn)
        {
            var before = Interlocked.CompareExchange(ref _replayLsn, (long)lsn, seen);
            if (before == seen)
            {
                return;
            }

            seen = before;
        }
    }

    /// <summary>Opens a connection through the server's circuit breaker (a connection failure counts against it).</summary>
    public ValueTask<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
        => _breaker.ExecuteAsync(static (server, ct) => server.DataSource.OpenConnectionAsync(ct), this, cancellationToken);

    /// <summary>
    /// Runs <paramref name="work"/> on a new connection through the breaker, so a failure mid-work also counts.
    /// The connection is disposed afterwards unless <paramref name="keepOpen"/> (then the work owns it on success).
    /// </summary>
    public ValueTask<T> RunAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, bool keepOpen, CancellationToken cancellationToken)
        => _breaker.ExecuteAsync(
            static async (state, ct) =>
            {
                var connection = await state.Server.DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
                try
                {
                    var value = await state.Work(connection, ct).ConfigureAwait(false);
                    if (!state.KeepOpen)
                    {
                        await connection.DisposeAsync().ConfigureAwait(false);
                    }

                    return value;
                }
                catch
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            },
            (Server: this, Work: work, KeepOpen: keepOpen),
            cancellationToken);

    public ValueTask CloseCircuitAsync() => _breakerState.CircuitState == CircuitState.Closed
        ? ValueTask.CompletedTask
        : new ValueTask(_breakerControl.CloseAsync());

    public ReplicaStatus ToStatus() => new(
        Name, _health, InRecovery, new NpgsqlTypes.NpgsqlLogSequenceNumber(ReplayLsn), LagBytes, LagTime, CircuitOpen, Reason, LastChecked);

    public ValueTask DisposeAsync() => DataSource.DisposeAsync();
}
