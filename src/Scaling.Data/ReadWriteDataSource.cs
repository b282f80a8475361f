using System.Data;
using System.Data.Common;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Scaling.Data;

/// <summary>
/// One primary and N streaming replicas behind one object: writes go to the primary; reads go to a healthy
/// replica (round-robin), to a replica that has replayed the caller's <see cref="ConsistencyToken"/>, or — within
/// a bound — to the primary. Hands out ordinary <see cref="NpgsqlConnection"/>s, so callers keep all of Npgsql;
/// <see cref="ReadAsync{T}"/>, <see cref="WriteAsync{T}"/> and <see cref="QueryAsync"/> add retries on top.
/// </summary>
/// <remarks>
/// Replica health (role, replay position, lag) is refreshed by <see cref="CheckReplicasAsync"/>, which the hosted
/// service registered by <c>services.AddScalingData(...)</c> runs every <see cref="ScalingDataOptions.HealthCheckInterval"/>.
/// Create one instance per database cluster and reuse it; it is thread-safe.
/// </remarks>
public sealed partial class ReadWriteDataSource : IAsyncDisposable
{
    private const string InsertLsnSql = "SELECT pg_current_wal_insert_lsn()";
    private const string ProbeSql =
        "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn(), "
        + "CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() "
        + "OR pg_last_wal_receive_lsn() < pg_last_wal_replay_lsn() THEN 0 "
        + "ELSE COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0) END::float8";

    private static readonly ResiliencePropertyKey<WritePhase> PhaseKey = new("Scaling.Data.WritePhase");

    private readonly DataServer _primary;
    private readonly DataServer[] _replicas;
    private readonly ScalingDataOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly SemaphoreSlim _fallbackSlots;
    private readonly ResiliencePipeline _readRetry;
    private readonly ResiliencePipeline _openRetry;
    private readonly ResiliencePipeline _writeRetry;
    private readonly ResiliencePipeline _writeRetryIdempotent;
    private readonly SemaphoreSlim _checkGate = new(1, 1);
    private readonly Meter? _ownedMeter;
    private readonly DataInstruments _instruments;
    private int _next = -1;
    private RoutedDataSource? _writes;
    private RoutedDataSource? _reads;
    private int _disposed;

    /// <summary>Creates the data source and its Npgsql data sources. Nothing connects until first use.</summary>
    /// <param name="options">
    /// The options; validated here (<see cref="OptionsValidationException"/> names each bad option). Outside DI, wrap
    /// them with <c>Options.Create</c>.
    /// </param>
    /// <param name="loggerFactory">
    /// Logging for Scaling.Data and for the Npgsql data sources it creates (hence a factory, not an <c>ILogger&lt;T&gt;</c>);
    /// none when <see langword="null"/>.
    /// </param>
    /// <param name="meterFactory">Gives the <c>Scaling.Data</c> meter; <see langword="null"/> to create one, disposed with the data source.</param>
    /// <param name="timeProvider">The clock for health timestamps; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    public ReadWriteDataSource(IOptions<ScalingDataOptions> options, ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var value = options.Value;
        ArgumentNullException.ThrowIfNull(value, nameof(options));
        ScalingDataOptionsValidator.ThrowIfInvalid(value);
        _options = value;
        var meter = meterFactory?.Create(DataInstruments.MeterName) ?? (_ownedMeter = new Meter(DataInstruments.MeterName));
        _instruments = DataInstruments.For(meter);
        Name = value.Name;
        loggerFactory ??= NullLoggerFactory.Instance;
        _logger = loggerFactory.CreateLogger<ReadWriteDataSource>();
        _timeProvider = timeProvider ?? TimeProvider.System;
        _fallbackSlots = new SemaphoreSlim(value.MaxPrimaryFallbackReads, value.MaxPrimaryFallbackReads);

        _primary = CreateServer(value.PrimaryConnectionString!, ServerRole.Primary, loggerFactory);
        _replicas = value.ReplicaConnectionStrings.Select(cs => CreateServer(cs, ServerRole.Replica, loggerFactory)).ToArray();
        Replicas = Array.AsReadOnly(_replicas);
        _readRetry = BuildRetry("read", e => TransientErrors.IsTransient(e));
        _openRetry = BuildRetry("open", e => TransientErrors.IsConnectionFailure(e) && e is not BrokenCircuitException);
        _writeRetry = BuildWriteRetry(idempotent: false);
        _writeRetryIdempotent = BuildWriteRetry(idempotent: true);
        _instruments.Track(this);
    }

    private enum WritePhase
    {
        Open,
        Transaction,
        Committed,
    }

    /// <summary>The data source's name (<see cref="ScalingDataOptions.Name"/>).</summary>
    public string Name { get; }

    /// <summary>
    /// The primary's Npgsql data source, for anything that must run on the primary (migrations, <c>LISTEN</c>,
    /// <c>COPY</c> into tables). Writes through it bypass the circuit breaker and the retries.
    /// </summary>
    public NpgsqlDataSource Primary => _primary.DataSource;

    /// <summary>The number of replicas configured.</summary>
    public int ReplicaCount => _replicas.Length;

    /// <summary>
    /// The primary as a <see cref="DbDataSource"/>, for ADO.NET code that takes one (Dapper, EF Core's <c>UseNpgsql</c>).
    /// <c>OpenConnectionAsync</c> opens as <see cref="OpenWriteConnectionAsync"/> does (retried open, circuit breaker,
    /// <see cref="PrimaryUnavailableException"/>); a connection made with <c>CreateConnection</c> and opened by the caller
    /// goes to the primary directly. After committing, <see cref="GetConsistencyTokenAsync"/> gives the token for later reads.
    /// </summary>
    /// <returns>A data source that owns nothing: disposing it leaves this one open. The same instance every call.</returns>
    public DbDataSource ForWrites() => _writes ??= new RoutedDataSource(this, forWrites: true, token: null);

    /// <summary>
    /// Reads as a <see cref="DbDataSource"/>, for ADO.NET code that takes one (Dapper, EF Core's <c>UseNpgsql</c>):
    /// every connection it gives is a read connection routed by this data source's health and lag rules, and sees
    /// <paramref name="token"/> when one is given.
    /// <list type="bullet">
    /// <item><c>OpenConnectionAsync</c> (and a command or batch the data source runs itself) routes as
    /// <see cref="OpenReadConnectionAsync"/>: a replica known to have replayed the token, else the most advanced healthy
    /// replica checked live, else the primary within <see cref="ScalingDataOptions.MaxPrimaryFallbackReads"/>.</item>
    /// <item><c>CreateConnection</c> and <c>OpenConnection</c> (no I/O before the caller opens) route from what the
    /// health monitor last saw: a replica that takes reads and whose replay position is known to have reached the
    /// token, else the primary. Never stale either way; without the live check, a read the replica has just caught up
    /// with may go to the primary, and such a fallback is not counted against the bound.</item>
    /// </list>
    /// </summary>
    /// <param name="token">The consistency token of the caller's last write, or <see langword="null"/>.</param>
    /// <returns>A data source that owns nothing: disposing it leaves this one open. Cheap; make one per request.</returns>
    public DbDataSource ForReads(ConsistencyToken? token = null) =>
        token is null ? _reads ??= new RoutedDataSource(this, forWrites: false, token: null) : new RoutedDataSource(this, forWrites: false, token);

    internal IReadOnlyList<DataServer> Replicas { get; }

    /// <summary>A snapshot of each replica as the health monitor last saw it.</summary>
    /// <returns>One status per configured replica, in configuration order.</returns>
    public IReadOnlyList<ReplicaStatus> GetReplicaStatuses() => _replicas.Select(r => r.ToStatus()).ToArray();

    /// <summary>
    /// Opens a connection to the primary for writes. The open is retried on connection failures (nothing has been
    /// sent yet); if the primary still cannot be reached, or its circuit breaker is open, this fails fast with
    /// <see cref="PrimaryUnavailableException"/>. After committing, call <see cref="GetConsistencyTokenAsync"/>.
    /// </summary>
    /// <param name="cancellationToken">Cancels the open.</param>
    /// <returns>An open connection to the primary; dispose it to return it to the pool.</returns>
    public async ValueTask<NpgsqlConnection> OpenWriteConnectionAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        try
        {
            return await _openRetry.ExecuteAsync(static (primary, ct) => primary.OpenAsync(ct), _primary, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (TransientErrors.IsConnectionFailure(e) && !cancellationToken.IsCancellationRequested)
        {
            throw PrimaryUnavailable(e);
        }
    }

    /// <summary>
    /// Opens a connection for a read: to a healthy replica that has replayed <paramref name="token"/> (when given),
    /// otherwise to the primary within <see cref="ScalingDataOptions.MaxPrimaryFallbackReads"/>.
    /// </summary>
    /// <param name="token">The caller's consistency token from an earlier write, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the open.</param>
    /// <returns>An open connection; dispose it promptly (a primary fallback slot is held until it is closed).</returns>
    /// <exception cref="ReadCapacityExceededException">No replica could serve the read and the primary is at its fallback bound.</exception>
    public async ValueTask<NpgsqlConnection> OpenReadConnectionAsync(ConsistencyToken? token = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        using var activity = DataActivities.StartRead(Name, token);
        try
        {
            var (connection, _) = await ReadWithRetriesAsync(static (c, _) => Task.FromResult(c), keepOpen: true, token, activity, cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch (Exception e) when (ActivityErrors.Record(activity, e))
        {
            throw;
        }
    }

    /// <summary>
    /// Runs a read on a connection chosen as by <see cref="OpenReadConnectionAsync"/>. If the server fails
    /// (connection lost, timeout, shutting down) or the read hits 40001/40P01, the read runs again on another
    /// server (another replica, else the primary) with jittered backoff between rounds; so
    /// <paramref name="read"/> must be safe to run more than once (a read is).
    /// </summary>
    /// <typeparam name="T">What the read returns.</typeparam>
    /// <param name="read">The read; it gets an open connection, which is disposed after it returns.</param>
    /// <param name="token">The caller's consistency token from an earlier write, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the read and its retries.</param>
    /// <returns>What <paramref name="read"/> returned.</returns>
    public async Task<T> ReadAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> read, ConsistencyToken? token = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(read);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        using var activity = DataActivities.StartRead(Name, token);
        try
        {
            var (value, _) = await ReadWithRetriesAsync(read, keepOpen: false, token, activity, cancellationToken).ConfigureAwait(false);
            return value;
        }
        catch (Exception e) when (ActivityErrors.Record(activity, e))
        {
            throw;
        }
    }

    /// <summary>
    /// Runs a read on the primary, for reads that must see every committed write (filling a cache that writes
    /// invalidate, for example: a lagging replica would put stale data back). It is bounded like a write, not like a
    /// connection you hold: when the primary's circuit is open or the health monitor finds it not answering, the read
    /// fails at once, also while it is already waiting on the primary.
    /// Transient failures (connection lost, 40001, 40P01) are retried as in <see cref="ReadAsync{T}"/>, so
    /// <paramref name="read"/> must be safe to run more than once. It does not count against
    /// <see cref="ScalingDataOptions.MaxPrimaryFallbackReads"/>.
    /// </summary>
    /// <typeparam name="T">What the read returns.</typeparam>
    /// <param name="read">The read; it gets an open connection to the primary, which is disposed after it returns.</param>
    /// <param name="cancellationToken">Cancels the read and its retries.</param>
    /// <returns>What <paramref name="read"/> returned.</returns>
    /// <exception cref="PrimaryUnavailableException">The primary's circuit is open: it failed, or stopped answering, before the read started.</exception>
    /// <exception cref="TimeoutException">The primary stopped answering while the read waited on it (its health probe timed out).</exception>
    public async Task<T> ReadFromPrimaryAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> read, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(read);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        using var activity = DataActivities.StartRead(Name, token: null);
        DataActivities.Routed(activity, _primary, DataActivities.PrimaryOnly);
        try
        {
            var value = await _readRetry.ExecuteAsync(
                static (state, ct) => new ValueTask<T>(state.Self.RunOnPrimaryAsync(state.Read, keepOpen: false, ct)),
                (Self: this, Read: read),
                cancellationToken).ConfigureAwait(false);
            _instruments.Reads.Add(1, DataInstruments.Tags(Name, "role", "primary"));
            return value;
        }
        catch (Exception e) when (ActivityErrors.Record(activity, e))
        {
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="write"/> in a transaction on the primary, commits it and returns the consistency token.
    /// A serialization failure (40001) or deadlock (40P01) rolled the transaction back, so it is run again with
    /// jittered backoff; so is a failure to open the connection. A connection lost during the transaction or its
    /// commit leaves the outcome unknown: the write is run again only when <paramref name="idempotent"/> is
    /// <see langword="true"/>, and otherwise the exception reaches the caller — never a silent second write.
    /// </summary>
    /// <typeparam name="T">What the write returns.</typeparam>
    /// <param name="write">The work; it gets the open transaction (its connection is <see cref="NpgsqlTransaction.Connection"/>). It must not commit or roll back.</param>
    /// <param name="idempotent">Whether running the write twice is harmless (e.g. an upsert), allowing a retry after a lost connection.</param>
    /// <param name="isolationLevel">The transaction's isolation level; Read Committed by default.</param>
    /// <param name="cancellationToken">Cancels the write (before its commit) and its retries.</param>
    /// <returns>The work's value and the consistency token after the commit.</returns>
    /// <exception cref="PrimaryUnavailableException">The primary could not be reached; nothing was written.</exception>
    public Task<WriteResult<T>> WriteAsync<T>(
        Func<NpgsqlTransaction, CancellationToken, Task<T>> write,
        bool idempotent = false,
        IsolationLevel isolationLevel = IsolationLevel.ReadCommitted,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        return WriteCoreAsync(
            static async (self, transaction, write, ctx) =>
            {
                var connection = transaction.Connection!; // not readable from the transaction once it has committed
                T value;
                await using (transaction.ConfigureAwait(false))
                {
                    value = await write(transaction, ctx.CancellationToken).ConfigureAwait(false);
                    await transaction.CommitAsync(ctx.CancellationToken).ConfigureAwait(false);
                }

                ctx.Properties.Set(PhaseKey, WritePhase.Committed);
                var token = await self.TryReadTokenAfterCommitAsync(connection).ConfigureAwait(false);
                return new WriteResult<T>(value, token);
            },
            write,
            idempotent,
            isolationLevel,
            cancellationToken);
    }

    /// <summary>
    /// Runs a write as one batch in one round trip to the primary: the commands <paramref name="build"/> adds, then
    /// <c>COMMIT</c> and the consistency token's query, all sent together (Npgsql adds the <c>BEGIN</c>). PostgreSQL
    /// runs them in order and, if one fails, skips the rest, the <c>COMMIT</c> included: the transaction is all or
    /// nothing, as with <see cref="WriteAsync{T}"/>, and retried on the same terms (a serialization failure or deadlock,
    /// a failure to open; a lost connection only when <paramref name="idempotent"/>).
    /// </summary>
    /// <remarks>
    /// Use it when the write needs no answer from the server before it is complete: conditions go into the SQL
    /// (<c>ON CONFLICT DO NOTHING</c>, <c>INSERT … SELECT … WHERE</c>, a data-modifying <c>WITH</c>). Rows the commands
    /// return are not read; what the write did is read from each command's <see cref="NpgsqlBatchCommand.RecordsAffected"/>.
    /// A connection lost while the batch runs leaves the outcome unknown, as a lost <c>COMMIT</c> does.
    /// </remarks>
    /// <typeparam name="T">What the write returns.</typeparam>
    /// <param name="build">Adds the write's commands to the batch; it is called again, with a new batch, for each attempt.</param>
    /// <param name="result">
    /// Computes the write's value once the batch has committed, from the commands <paramref name="build"/> added, in
    /// their order (e.g. <c>commands =&gt; commands[1].RecordsAffected == 1</c>).
    /// </param>
    /// <param name="idempotent">Whether running the write twice is harmless, allowing a retry after a lost connection.</param>
    /// <param name="isolationLevel">The transaction's isolation level; Read Committed by default.</param>
    /// <param name="cancellationToken">Cancels the write (before its batch is sent) and its retries.</param>
    /// <returns>The result and the consistency token after the commit.</returns>
    /// <exception cref="PrimaryUnavailableException">The primary could not be reached; nothing was written.</exception>
    /// <exception cref="ArgumentException"><paramref name="build"/> added no command.</exception>
    public Task<WriteResult<T>> WriteBatchAsync<T>(
        Action<NpgsqlBatch> build,
        Func<IReadOnlyList<NpgsqlBatchCommand>, T> result,
        bool idempotent = false,
        IsolationLevel isolationLevel = IsolationLevel.ReadCommitted,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(result);
        return WriteBatchCoreAsync(build, result, read: null, idempotent, isolationLevel, cancellationToken);
    }

    /// <summary>
    /// Runs a write as one batch in one round trip to the primary, as <see cref="WriteBatchAsync{T}"/> does, and reads the
    /// rows its commands return (<c>RETURNING</c>, a <c>SELECT</c> in the batch).
    /// </summary>
    /// <remarks>
    /// <paramref name="read"/> runs while the results arrive, before the <c>COMMIT</c>'s answer: the value it returns is
    /// handed back only if the batch committed (otherwise the exception is thrown, and the write may be retried as
    /// <see cref="WriteBatchAsync{T}"/>'s is). The server runs the whole batch whatever <paramref name="read"/> does: it reads, and does
    /// not decide whether the write commits (put such conditions into the SQL).
    /// </remarks>
    /// <typeparam name="T">What the write returns.</typeparam>
    /// <param name="build">Adds the write's commands to the batch; it is called again, with a new batch, for each attempt.</param>
    /// <param name="read">
    /// Reads the results of the commands <paramref name="build"/> added: the reader is at the first command's result
    /// (<see cref="NpgsqlDataReader.NextResultAsync(CancellationToken)"/> moves to the next command's); it must not move
    /// past the last of them. Its token is not cancelled: once sent, a batch commits or fails as a whole.
    /// </param>
    /// <param name="idempotent">Whether running the write twice is harmless, allowing a retry after a lost connection.</param>
    /// <param name="isolationLevel">The transaction's isolation level; Read Committed by default.</param>
    /// <param name="cancellationToken">Cancels the write (before its batch is sent) and its retries.</param>
    /// <returns>What <paramref name="read"/> returned, and the consistency token after the commit.</returns>
    /// <exception cref="PrimaryUnavailableException">The primary could not be reached; nothing was written.</exception>
    /// <exception cref="ArgumentException"><paramref name="build"/> added no command.</exception>
    public Task<WriteResult<T>> WriteBatchReturningAsync<T>(
        Action<NpgsqlBatch> build,
        Func<NpgsqlDataReader, CancellationToken, Task<T>> read,
        bool idempotent = false,
        IsolationLevel isolationLevel = IsolationLevel.ReadCommitted,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(read);
        return WriteBatchCoreAsync(build, result: null, read, idempotent, isolationLevel, cancellationToken);
    }

    /// <summary>The batch write both methods share; exactly one of <paramref name="result"/> and <paramref name="read"/> is set.</summary>
    private Task<WriteResult<T>> WriteBatchCoreAsync<T>(
        Action<NpgsqlBatch> build,
        Func<IReadOnlyList<NpgsqlBatchCommand>, T>? result,
        Func<NpgsqlDataReader, CancellationToken, Task<T>>? read,
        bool idempotent,
        IsolationLevel isolationLevel,
        CancellationToken cancellationToken)
    {
        return WriteCoreAsync(
            static async (self, transaction, state, ctx) =>
            {
                await using (transaction.ConfigureAwait(false))
                {
                    var batch = new TimedBatch(transaction.Connection, transaction);
                    await using (batch.ConfigureAwait(false))
                    {
                        state.Build(batch);
                        var commands = new NpgsqlBatchCommand[batch.BatchCommands.Count];
                        for (var i = 0; i < commands.Length; i++)
                        {
                            commands[i] = batch.BatchCommands[i];
                        }

                        if (commands.Length == 0)
                        {
                            throw new ArgumentException("The batch has no commands: build must add at least one.", nameof(build));
                        }

                        batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
                        batch.BatchCommands.Add(new NpgsqlBatchCommand(InsertLsnSql));
                        ConsistencyToken? token = null;
                        ctx.CancellationToken.ThrowIfCancellationRequested();

                        // The batch is not abandoned halfway on cancellation: once sent, it commits or fails as a whole
                        // (a stuck primary is cut off by WhileAnsweringAsync and the command timeout).
                        T value = default!;
                        var started = Stopwatch.GetTimestamp();
                        try
                        {
                            var reader = await batch.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false);
                            await using (reader.ConfigureAwait(false))
                            {
                                if (state.Read is not null)
                                {
                                    value = await state.Read(reader, CancellationToken.None).ConfigureAwait(false);
                                }

                                do
                                {
                                    // The token's query is the last command and the only one whose rows are read.
                                    if (reader.FieldCount == 1 && reader.GetFieldType(0) == typeof(NpgsqlLogSequenceNumber) && await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false))
                                    {
                                        token = ConsistencyToken.FromLsn(reader.GetFieldValue<NpgsqlLogSequenceNumber>(0));
                                    }
                                }
                                while (await reader.NextResultAsync(CancellationToken.None).ConfigureAwait(false));
                            }
                        }
                        finally
                        {
                            CommandObserver.Record(self._primary.CommandTag, batch, started);
                        }

                        ctx.Properties.Set(PhaseKey, WritePhase.Committed);
                        return new WriteResult<T>(state.Result is null ? value : state.Result(commands), token);
                    }
                }
            },
            (Build: build, Result: result, Read: read),
            idempotent,
            isolationLevel,
            cancellationToken);
    }

    /// <summary>
    /// The write path both write methods share: the retry pipeline, the span, opening the primary and beginning the
    /// transaction; <paramref name="body"/> runs the work, commits and reads the token.
    /// </summary>
    private async Task<WriteResult<T>> WriteCoreAsync<T, TState>(
        Func<ReadWriteDataSource, NpgsqlTransaction, TState, ResilienceContext, Task<WriteResult<T>>> body,
        TState state,
        bool idempotent,
        IsolationLevel isolationLevel,
        CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var pipeline = idempotent ? _writeRetryIdempotent : _writeRetry;
        using var activity = DataActivities.StartWrite(Name, _primary, idempotent);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        Task<WriteResult<T>>? run = null;
        try
        {
            run = pipeline.ExecuteAsync(
                static async (ctx, s) =>
                {
                    ctx.Properties.Set(PhaseKey, WritePhase.Open);
                    var connection = await s.Self._primary.OpenAsync(ctx.CancellationToken).ConfigureAwait(false);
                    await using var connectionLifetime = connection.ConfigureAwait(false);
                    ctx.Properties.Set(PhaseKey, WritePhase.Transaction);
                    var transaction = await connection.BeginTransactionAsync(s.IsolationLevel, ctx.CancellationToken).ConfigureAwait(false);
                    return await s.Body(s.Self, transaction, s.State, ctx).ConfigureAwait(false);
                },
                context,
                (Self: this, Body: body, State: state, IsolationLevel: isolationLevel)).AsTask();

            // A primary that stops answering mid-write is not waited for past the health monitor's verdict.
            var result = await _primary.WhileAnsweringAsync(run).ConfigureAwait(false);
            DataActivities.Committed(activity, result.Token);
            return result;
        }
        catch (Exception e) when (TransientErrors.IsConnectionFailure(e)
            && context.Properties.GetValue(PhaseKey, WritePhase.Open) == WritePhase.Open
            && !cancellationToken.IsCancellationRequested)
        {
            var unavailable = PrimaryUnavailable(e);
            ActivityErrors.Record(activity, unavailable);
            throw unavailable;
        }
        catch (Exception e) when (ActivityErrors.Record(activity, e))
        {
            throw;
        }
        finally
        {
            // An abandoned write still uses its context; it is left to the garbage collector rather than pooled.
            if (run is null || run.IsCompleted)
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }
    }

    /// <summary>
    /// Runs one SQL statement, the way a small app's <c>query(text, params, isWrite)</c> helper does: a write runs
    /// through <see cref="WriteAsync{T}"/> (not idempotent, returns a token), a read through
    /// <see cref="ReadAsync{T}"/>. The rows are buffered. Parameters are positional: <c>$1</c>, <c>$2</c>, …
    /// </summary>
    /// <param name="sql">The statement.</param>
    /// <param name="parameters">The values of <c>$1</c>, <c>$2</c>, …; <see langword="null"/> becomes SQL NULL.</param>
    /// <param name="isWrite">Whether the statement writes (then it runs on the primary, in a transaction).</param>
    /// <param name="token">For a read, the caller's consistency token.</param>
    /// <param name="cancellationToken">Cancels the statement.</param>
    /// <returns>The buffered result.</returns>
    public async Task<QueryResult> QueryAsync(
        string sql,
        IReadOnlyList<object?>? parameters = null,
        bool isWrite = false,
        ConsistencyToken? token = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sql);
        if (isWrite)
        {
            if (token is not null)
            {
                throw new ArgumentException("A consistency token only applies to reads; a write always runs on the primary.", nameof(token));
            }

            var result = await WriteAsync((tx, ct) => RunStatementAsync(tx.Connection!, tx, sql, parameters, ct), cancellationToken: cancellationToken).ConfigureAwait(false);
            return new QueryResult(result.Value.Columns, result.Value.Rows, result.Value.RowsAffected, ServerRole.Primary, result.Token);
        }

        using var activity = DataActivities.StartRead(Name, token);
        try
        {
            var (rows, server) = await ReadWithRetriesAsync(
                (connection, ct) => RunStatementAsync(connection, null, sql, parameters, ct),
                keepOpen: false,
                token,
                activity,
                cancellationToken).ConfigureAwait(false);
            return new QueryResult(rows.Columns, rows.Rows, rows.RowsAffected, server.Role, null);
        }
        catch (Exception e) when (ActivityErrors.Record(activity, e))
        {
            throw;
        }
    }

    /// <summary>
    /// Reads the primary's current WAL insert position: called after a commit, it is at or past that commit, so it
    /// is the consistency token for the write. (The insert position is used rather than <c>pg_current_wal_lsn()</c>
    /// because with <c>synchronous_commit=off</c> the latter may still be behind a commit that has returned.)
    /// </summary>
    /// <param name="primaryConnection">An open connection to the primary (the one that committed, saving an open), or <see langword="null"/> to open one.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The token.</returns>
    public async Task<ConsistencyToken> GetConsistencyTokenAsync(NpgsqlConnection? primaryConnection = null, CancellationToken cancellationToken = default)
    {
        if (primaryConnection is not null)
        {
            return await ReadInsertLsnAsync(primaryConnection, cancellationToken).ConfigureAwait(false);
        }

        return await ReadFromPrimaryAsync(static (connection, ct) => ReadInsertLsnAsync(connection, ct), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Checks every replica once (role, replay position, lag in bytes and time), ejects those over a threshold and
    /// readmits those healthy for <see cref="ScalingDataOptions.ReadmitAfterHealthyChecks"/> checks in a row. The
    /// hosted health monitor calls this periodically; calling it directly is useful at start-up and in tests.
    /// </summary>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>A task that completes when every replica has been checked.</returns>
    public async Task CheckReplicasAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        await _checkGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var primaryLsn = await ProbePrimaryAsync(cancellationToken).ConfigureAwait(false);
            await Task.WhenAll(_replicas.Select(r => CheckReplicaAsync(r, primaryLsn, cancellationToken))).ConfigureAwait(false);
        }
        finally
        {
            _checkGate.Release();
        }
    }

    /// <summary>Probes the primary (reachable, not in recovery) for health checks.</summary>
    internal async Task<(bool Healthy, string Description)> ProbePrimaryHealthAsync(CancellationToken cancellationToken)
    {
        try
        {
            var inRecovery = await ProbeAsync(_primary, "SELECT pg_is_in_recovery()", static reader => reader.GetBoolean(0), cancellationToken).ConfigureAwait(false);
            return inRecovery
                ? (false, $"primary {_primary.Name} is in recovery (a standby)")
                : (true, $"primary {_primary.Name} is up");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return (false, $"primary {_primary.Name} is unreachable: {e.Message}");
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _instruments.Untrack(this);
        _ownedMeter?.Dispose();
        await _primary.DisposeAsync().ConfigureAwait(false);
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync().ConfigureAwait(false);
        }

        _fallbackSlots.Dispose();
        _checkGate.Dispose();
    }
}
