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

    // Cancelled (and replaced) when the health monitor finds the server not answering: callers stop waiting for the
    // work in flight on it instead of waiting for its command timeout.
    private CancellationTokenSource _answering = new();
    private int _notAnswering;

    /// <summary>What its commands are timed and logged with, or <see langword="null"/> when commands are not observed.</summary>
    public CommandObserver.Tag? CommandTag { get; }

    public DataServer(
        string host,
        int port,
        string? database,
        ServerRole role,
        NpgsqlDataSource dataSource,
        NpgsqlDataSource probeDataSource,
        ResiliencePipeline breaker,
        CircuitBreakerStateProvider breakerState,
        CircuitBreakerManualControl breakerControl,
        CommandObserver.Tag? commandTag)
    {
        CommandTag = commandTag;
        Host = host;
        Port = port;
        Database = database;
        Name = $"{host}:{port}";
        Role = role;
        DataSource = dataSource;
        ProbeDataSource = probeDataSource;
        _breaker = breaker;
        _breakerState = breakerState;
        _breakerControl = breakerControl;
    }

    /// <summary>The server's <c>host:port</c>, as logs and statuses show it.</summary>
    public string Name { get; }

    /// <summary>The host of the connection string (a span's <c>server.address</c>).</summary>
    public string Host { get; }

    /// <summary>The port of the connection string (a span's <c>server.port</c>).</summary>
    public int Port { get; }

    /// <summary>The database of the connection string, when it names one (a span's <c>db.namespace</c>).</summary>
    public string? Database { get; }

    public ServerRole Role { get; }

    public NpgsqlDataSource DataSource { get; }

    /// <summary>
    /// The health probes' own small pool, so that a probe never queues behind the application's connections (a busy
    /// pool is not a server that stopped answering).
    /// </summary>
    public NpgsqlDataSource ProbeDataSource { get; }

    /// <summary>A probe that outlived its timeout and was abandoned; while it runs, the server is not probed again.</summary>
    public Task? AbandonedProbe { get; set; }

    /// <summary>Whether the health monitor found the server not answering (its breaker is isolated until it answers again).</summary>
    public bool NotAnswering => Volatile.Read(ref _notAnswering) == 1;

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
        => WhileAnsweringAsync(
            static (server, ct) => server._breaker.ExecuteAsync(static (s, c) => s.DataSource.OpenConnectionAsync(c), server, ct),
            this,
            cancellationToken);

    /// <summary>
    /// Runs <paramref name="work"/>, and stops waiting for it when the health monitor finds this server not answering
    /// (<see cref="MarkNotAnsweringAsync"/>): the caller then gets a <see cref="TimeoutException"/> (a connection
    /// failure) at once. The work itself is abandoned, not cancelled: Npgsql cancels a command by sending the server a
    /// cancel request and waiting for it to hang up, which a paused server never does.
    /// </summary>
    public ValueTask<TResult> WhileAnsweringAsync<TState, TResult>(
        Func<TState, CancellationToken, ValueTask<TResult>> work,
        TState state,
        CancellationToken cancellationToken)
    {
        var answering = _answering.Token;
        var pending = work(state, cancellationToken);
        return pending.IsCompleted ? pending : new ValueTask<TResult>(AbandonWhenNotAnsweringAsync(pending.AsTask(), answering));
    }

    /// <summary>Awaits <paramref name="work"/> until it ends or this server is found not answering, whichever is first.</summary>
    /// <returns>What <paramref name="work"/> returned.</returns>
    public Task<TResult> WhileAnsweringAsync<TResult>(Task<TResult> work) => AbandonWhenNotAnsweringAsync(work, _answering.Token);

    private async Task<TResult> AbandonWhenNotAnsweringAsync<TResult>(Task<TResult> work, CancellationToken answering)
    {
        try
        {
            return await work.WaitAsync(answering).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (answering.IsCancellationRequested && !work.IsCompleted)
        {
            // Nobody will see the abandoned work's outcome: observe its failure, close what it opened.
            _ = work.ContinueWith(
                static t =>
                {
                    if (t.IsCompletedSuccessfully && t.Result is IAsyncDisposable opened)
                    {
                        _ = opened.DisposeAsync().AsTask().ContinueWith(static d => _ = d.Exception, TaskScheduler.Default);
                    }

                    return t.Exception;
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            throw new TimeoutException($"The server {Name} stopped answering (its health probe timed out); this call stopped waiting for it.", e);
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a new connection through the breaker, so a failure mid-work also counts.
    /// The connection is disposed afterwards unless <paramref name="keepOpen"/> (then the work owns it on success).
    /// When the health monitor finds the server not answering, the caller stops waiting (see <see cref="WhileAnsweringAsync{TState, TResult}"/>).
    /// </summary>
    public ValueTask<T> RunAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, bool keepOpen, CancellationToken cancellationToken)
        => WhileAnsweringAsync(
            static (state, ct) => state.Server.RunThroughBreakerAsync(state.Work, state.KeepOpen, ct),
            (Server: this, Work: work, KeepOpen: keepOpen),
            cancellationToken);

    /// <summary>
    /// The server stopped answering: new work fails fast (the breaker is isolated) and callers stop waiting for the
    /// work in flight.
    /// Idempotent; <see cref="MarkAnsweringAsync"/> undoes it.
    /// </summary>
    public async ValueTask MarkNotAnsweringAsync()
    {
        if (Interlocked.Exchange(ref _notAnswering, 1) == 1)
        {
            return;
        }

        await _breakerControl.IsolateAsync().ConfigureAwait(false);
        var stopped = Interlocked.Exchange(ref _answering, new CancellationTokenSource());
        await stopped.CancelAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The server answers again. For the primary the breaker closes at once; a replica's breaker closes when it is
    /// readmitted (<see cref="CloseCircuitAsync"/>).
    /// </summary>
    /// <returns>Whether the server had been marked as not answering.</returns>
    public async ValueTask<bool> MarkAnsweringAsync(bool closeCircuit)
    {
        if (Interlocked.Exchange(ref _notAnswering, 0) == 0)
        {
            return false;
        }

        if (closeCircuit)
        {
            await CloseCircuitAsync().ConfigureAwait(false);
        }

        return true;
    }

    private ValueTask<T> RunThroughBreakerAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, bool keepOpen, CancellationToken cancellationToken)
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

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync().ConfigureAwait(false);
        await ProbeDataSource.DisposeAsync().ConfigureAwait(false);
    }
}
