using System.Collections.Concurrent;
using System.Data;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Scaling.Data;

namespace Scaling.Tenancy.Sharding;

/// <summary>
/// Routes a tenant's work to its shard: tenant → the shard's <see cref="ReadWriteDataSource"/> (created once per
/// shard and reused), with every transaction entered as the tenant — the shard checks that it owns the tenant (a route
/// made from a stale map is refused, the map refreshed and the work sent to the right shard) and sets the tenant for
/// row-level security, in the same round trip as <c>BEGIN</c>.
/// </summary>
/// <remarks>
/// A tenant that is read-only (the final step of a move), or whose shard cannot be reached, fails with a retryable
/// <see cref="TenantUnavailableException"/>; other tenants are not affected. Create one per process; thread-safe.
/// </remarks>
public sealed partial class ShardRouter : IShardAccess, IAsyncDisposable
{
    private const int MaxRouteAttempts = 3;

    /// <summary>The commands the router puts first in a tenant's batch: its entry (see <see cref="AddEntry"/>).</summary>
    private const int EntryCommands = 1;

    private readonly ScalingTenancyOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly IMeterFactory? _meterFactory;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Lazy<ShardEntry>> _shards = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _retiring = [];

    /// <summary>How long a shard's replaced data source stays open for the transactions begun on it.</summary>
    private static readonly TimeSpan RetireGrace = TimeSpan.FromSeconds(30);
    private readonly string? _tenantRole;
    private int _disposed;

    /// <summary>Creates the router over a shard map.</summary>
    /// <param name="options">The options (the same the map was created with, normally); validated here. Outside DI, wrap them with <c>Options.Create</c>.</param>
    /// <param name="map">The shard map.</param>
    /// <param name="loggerFactory">
    /// Logging, also for the shards' data sources that the router creates (hence a factory); none when <see langword="null"/>.
    /// </param>
    /// <param name="meterFactory">Gives the shards' data sources their <c>Scaling.Data</c> meter; <see langword="null"/> for each to create its own.</param>
    public ShardRouter(IOptions<ScalingTenancyOptions> options, ShardMap map, ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(map);
        var value = options.Value;
        ScalingTenancyOptionsValidator.ThrowIfInvalid(value);
        Map = map;
        _options = value;
        _meterFactory = meterFactory;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<ShardRouter>();
        _tenantRole = value.TenantRole;
    }


    /// <summary>The replaced shard entries not yet disposed (for tests).</summary>
    internal int RetiringCount
    {
        get
        {
            lock (_retiring)
            {
                return _retiring.Count(t => !t.IsCompleted);
            }
        }
    }

    /// <summary>Gets the shard map the router routes by.</summary>
    public ShardMap Map { get; }

    /// <inheritdoc />
    ScalingTenancyOptions IShardAccess.Options => _options;

    /// <inheritdoc />
    ILoggerFactory IShardAccess.LoggerFactory => _loggerFactory;

    /// <summary>Gets the data source of a shard, creating it on first use (the same instance afterwards).</summary>
    /// <param name="shardId">The shard's id.</param>
    /// <returns>The shard's data source.</returns>
    /// <exception cref="ArgumentException">The cached map has no such shard.</exception>
    public ReadWriteDataSource GetShard(string shardId) => GetEntry(shardId).DataSource;

    /// <summary>
    /// Finds the tenant's placement in the cached map (loading the map on first use). No round trip once loaded.
    /// </summary>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="cancellationToken">Cancels a first load of the map.</param>
    /// <returns>The placement.</returns>
    /// <exception cref="TenantNotFoundException">No such tenant.</exception>
    /// <exception cref="TenantUnavailableException">The map was never loaded and the metadata database cannot be reached.</exception>
    public ValueTask<TenantPlacement> RouteAsync(TenantId tenantId, CancellationToken cancellationToken = default)
        // Routing runs on every request: without a listener it stays the cached lookup it was, with no extra async frame.
        => TenancyActivities.Source.HasListeners() ? RouteTracedAsync(tenantId, cancellationToken) : RouteCoreAsync(tenantId, cancellationToken);

    /// <summary>
    /// Runs <paramref name="write"/> in a transaction on the primary of the tenant's shard, entered as the tenant
    /// (row-level security applies to every statement), commits it, and returns the read-your-writes token. Retries as
    /// <see cref="ReadWriteDataSource.WriteAsync{T}"/> does; a route refused by the shard is corrected and run again.
    /// </summary>
    /// <typeparam name="T">What the write returns.</typeparam>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="write">The work; it gets the open transaction. It must not commit or roll back.</param>
    /// <param name="idempotent">Whether running the write twice is harmless (allows a retry after a lost connection).</param>
    /// <param name="isolationLevel">The isolation level; Read Committed by default.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The write's value and token.</returns>
    /// <exception cref="TenantNotFoundException">No such tenant.</exception>
    /// <exception cref="TenantUnavailableException">The tenant is read-only (a move is finishing) or its shard cannot be reached; nothing was written; retry later.</exception>
    public Task<ShardWriteResult<T>> WriteAsync<T>(
        TenantId tenantId,
        Func<NpgsqlTransaction, CancellationToken, Task<T>> write,
        bool idempotent = false,
        IsolationLevel isolationLevel = IsolationLevel.ReadCommitted,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        return WriteCoreAsync(
            tenantId,
            (dataSource, ct) => dataSource.WriteAsync(
                async (transaction, c) =>
                {
                    try
                    {
                        await EnterAsync(transaction.Connection!, transaction, tenantId, write: true, c).ConfigureAwait(false);
                    }
                    catch (Exception e) when (TransientErrors.IsConnectionFailure(e) && !c.IsCancellationRequested)
                    {
                        // Nothing of the caller's was sent yet (e.g. a pooled connection the server had closed).
                        throw new EnterFailedException(e);
                    }

                    return await write(transaction, c).ConfigureAwait(false);
                },
                idempotent,
                isolationLevel,
                ct),
            cancellationToken);
    }

    /// <summary>
    /// Runs a write as one batch in one round trip to the primary of the tenant's shard, as
    /// <see cref="ReadWriteDataSource.WriteBatchAsync{T}"/> does, with the tenant's entry (ownership check, row-level
    /// security, the tenant role) sent first in the same batch. A route refused by the shard is corrected and the batch
    /// built and run again.
    /// </summary>
    /// <remarks>
    /// Unlike <see cref="WriteAsync{T}"/>, a connection that fails while the batch runs is not retried on another
    /// connection unless <paramref name="idempotent"/>: the batch carries its <c>COMMIT</c>, so its outcome is unknown.
    /// The router's commands come first in the batch; <paramref name="result"/> gets only those <paramref name="build"/> added.
    /// </remarks>
    /// <typeparam name="T">What the write returns.</typeparam>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="build">Adds the write's commands; it is called again, with a new batch, for each attempt (and after a refused route).</param>
    /// <param name="result">Computes the write's value once the batch has committed, from the commands <paramref name="build"/> added, in their order.</param>
    /// <param name="idempotent">Whether running the write twice is harmless.</param>
    /// <param name="isolationLevel">The isolation level; Read Committed by default.</param>
    /// <param name="cancellationToken">Cancels the write before its batch is sent.</param>
    /// <returns>The write's value and token.</returns>
    /// <exception cref="TenantNotFoundException">No such tenant.</exception>
    /// <exception cref="TenantUnavailableException">The tenant is read-only (a move is finishing) or its shard cannot be reached; nothing was written; retry later.</exception>
    public Task<ShardWriteResult<T>> WriteBatchAsync<T>(
        TenantId tenantId,
        Action<NpgsqlBatch> build,
        Func<IReadOnlyList<NpgsqlBatchCommand>, T> result,
        bool idempotent = false,
        IsolationLevel isolationLevel = IsolationLevel.ReadCommitted,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(result);
        return WriteCoreAsync(
            tenantId,
            (dataSource, ct) => dataSource.WriteBatchAsync(
                batch => BuildAsTenant(batch, tenantId, write: true, build),
                // The data source hands over the commands as an array: viewed past the entry, not copied.
                commands => result(new ArraySegment<NpgsqlBatchCommand>(commands as NpgsqlBatchCommand[] ?? [.. commands], EntryCommands, commands.Count - EntryCommands)),
                idempotent,
                isolationLevel,
                ct),
            cancellationToken);
    }

    /// <summary>
    /// Runs a write as one batch in one round trip, as <see cref="WriteBatchAsync{T}"/> does (the tenant's entry first),
    /// and reads the rows its commands return, as <see cref="ReadWriteDataSource.WriteBatchReturningAsync{T}"/> does.
    /// </summary>
    /// <remarks>
    /// <paramref name="read"/> runs while the results arrive, before the <c>COMMIT</c>'s answer; its value is handed back
    /// only if the batch committed. It reads, and does not decide whether the write commits.
    /// </remarks>
    /// <typeparam name="T">What the write returns.</typeparam>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="build">Adds the write's commands; it is called again, with a new batch, for each attempt (and after a refused route).</param>
    /// <param name="read">
    /// Reads the results of the commands <paramref name="build"/> added, from the first command's result; it must not
    /// move past the last of them. It runs again with each attempt.
    /// </param>
    /// <param name="idempotent">Whether running the write twice is harmless.</param>
    /// <param name="isolationLevel">The isolation level; Read Committed by default.</param>
    /// <param name="cancellationToken">Cancels the write before its batch is sent.</param>
    /// <returns>What <paramref name="read"/> returned, and the write's token.</returns>
    /// <exception cref="ArgumentException"><paramref name="build"/> added no command.</exception>
    /// <exception cref="TenantNotFoundException">No such tenant.</exception>
    /// <exception cref="TenantUnavailableException">The tenant is read-only (a move is finishing) or its shard cannot be reached; nothing was written; retry later.</exception>
    public Task<ShardWriteResult<T>> WriteBatchReturningAsync<T>(
        TenantId tenantId,
        Action<NpgsqlBatch> build,
        Func<NpgsqlDataReader, CancellationToken, Task<T>> read,
        bool idempotent = false,
        IsolationLevel isolationLevel = IsolationLevel.ReadCommitted,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(read);
        return WriteCoreAsync(
            tenantId,
            (dataSource, ct) => dataSource.WriteBatchReturningAsync(
                batch => BuildAsTenant(batch, tenantId, write: true, build),
                async (reader, c) =>
                {
                    await reader.NextResultAsync(c).ConfigureAwait(false); // past the entry's one row
                    return await read(reader, c).ConfigureAwait(false);
                },
                idempotent,
                isolationLevel,
                ct),
            cancellationToken);
    }

    /// <summary>The tenant's entry, then the caller's commands (at least one).</summary>
    private void BuildAsTenant(NpgsqlBatch batch, TenantId tenantId, bool write, Action<NpgsqlBatch> build)
    {
        AddEntry(batch, tenantId, write);
        build(batch);
        if (batch.BatchCommands.Count == EntryCommands)
        {
            throw new ArgumentException("The batch has no commands: build must add at least one.", nameof(build));
        }
    }

    /// <summary>The routing both write methods share: route, refuse a read-only tenant, run, reroute on a refusal.</summary>
    private async Task<ShardWriteResult<T>> WriteCoreAsync<T>(
        TenantId tenantId,
        Func<ReadWriteDataSource, CancellationToken, Task<WriteResult<T>>> run,
        CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        using var activity = TenancyActivities.Start(TenancyActivities.WriteSpan, tenantId);
        try
        {
            var placement = await RouteCoreAsync(tenantId, cancellationToken).ConfigureAwait(false);
            for (var attempt = 1; ; attempt++)
            {
                TenancyActivities.Routed(activity, placement, Map.Epoch);
                if (placement.State == TenantState.ReadOnly)
                {
                    throw Unavailable(tenantId, placement.ShardId, TenantUnavailableReason.ReadOnly, null);
                }

                var entry = GetEntry(placement.ShardId);
                try
                {
                    await entry.EnsureSafeAsync(cancellationToken).ConfigureAwait(false);
                    var result = await run(entry.DataSource, cancellationToken).ConfigureAwait(false);
                    return new ShardWriteResult<T>(result.Value, result.Token is { } token ? new ShardConsistencyToken(placement.ShardId, token) : null);
                }
                catch (PostgresException e) when (e.SqlState is ShardSchema.NotOwnedSqlState or ShardSchema.ReadOnlySqlState)
                {
                    TenancyActivities.RouteRefused(activity, placement, Map.Epoch, e.SqlState == ShardSchema.ReadOnlySqlState);
                    placement = await RerouteAsync(tenantId, placement, e, attempt, cancellationToken).ConfigureAwait(false);
                }
                catch (EnterFailedException e) when (attempt < MaxRouteAttempts)
                {
                    TenancyLog.TenantUnavailable(_logger, tenantId.Value, placement.ShardId, "enter failed; retrying", e.InnerException);
                }
                catch (Exception e) when (e is PrimaryUnavailableException or EnterFailedException)
                {
                    throw Unavailable(tenantId, placement.ShardId, TenantUnavailableReason.ShardUnavailable, e.InnerException ?? e);
                }
            }
        }
        catch (Exception e) when (TenancyActivities.Failed(activity, e))
        {
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="read"/> in a transaction entered as the tenant on a replica of its shard that has reached
    /// <paramref name="token"/> (or the primary, as <see cref="ReadWriteDataSource.ReadAsync{T}"/> routes). A replica
    /// that does not know the tenant yet (it was just moved in) is skipped for the primary.
    /// </summary>
    /// <typeparam name="T">What the read returns.</typeparam>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="read">The read; it may run more than once (on another server after a failure).</param>
    /// <param name="token">The caller's token from an earlier write, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>What <paramref name="read"/> returned.</returns>
    /// <exception cref="TenantNotFoundException">No such tenant.</exception>
    /// <exception cref="TenantUnavailableException">The tenant's shard cannot serve the read; retry later.</exception>
    public Task<T> ReadAsync<T>(
        TenantId tenantId,
        Func<NpgsqlConnection, CancellationToken, Task<T>> read,
        ShardConsistencyToken? token = null,
        CancellationToken cancellationToken = default)
        => ReadCoreAsync(tenantId, AsTenant(tenantId, read), token, primaryOnly: false, cancellationToken);

    /// <summary>
    /// Runs a read as one batch in one round trip, routed as <see cref="ReadAsync{T}"/> routes: the tenant's entry
    /// (ownership check, row-level security, the tenant role) and the commands <paramref name="build"/> adds go in one
    /// batch, which PostgreSQL runs as one implicit transaction. No <c>BEGIN</c> or <c>COMMIT</c> of its own, and
    /// nothing of the tenant is left on the connection when the batch ends. A route refused by the shard is corrected
    /// and the batch built and run again.
    /// </summary>
    /// <remarks>
    /// For reads that are known before they run (one query, or a few). <see cref="ReadAsync{T}"/> takes three round
    /// trips (the entry, the read, the commit); this takes one.
    /// </remarks>
    /// <typeparam name="T">What the read returns.</typeparam>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="build">Adds the read's commands; it is called again, with a new batch, for each attempt (on another server after a failure, and after a refused route).</param>
    /// <param name="read">
    /// Reads the results; the reader is at the first result of the first command <paramref name="build"/> added
    /// (<see cref="NpgsqlDataReader.NextResultAsync(CancellationToken)"/> moves to the next command's). It may run more than once, as <paramref name="build"/> does.
    /// </param>
    /// <param name="token">The caller's token from an earlier write, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>What <paramref name="read"/> returned.</returns>
    /// <exception cref="ArgumentException"><paramref name="build"/> added no command.</exception>
    /// <exception cref="TenantNotFoundException">No such tenant.</exception>
    /// <exception cref="TenantUnavailableException">The tenant's shard cannot serve the read; retry later.</exception>
    public Task<T> ReadBatchAsync<T>(
        TenantId tenantId,
        Action<NpgsqlBatch> build,
        Func<NpgsqlDataReader, CancellationToken, Task<T>> read,
        ShardConsistencyToken? token = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(read);
        return ReadCoreAsync(tenantId, (connection, ct) => ReadBatchAsTenantAsync(connection, tenantId, build, read, ct), token, primaryOnly: false, cancellationToken);
    }

    /// <summary>
    /// Runs a read as one batch in one round trip, as <see cref="ReadBatchAsync{T}"/> does, on the primary of the
    /// tenant's shard, as <see cref="ReadFromPrimaryAsync{T}"/> routes: for reads that must see every committed write.
    /// </summary>
    /// <typeparam name="T">What the read returns.</typeparam>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="build">Adds the read's commands; it is called again, with a new batch, for each attempt.</param>
    /// <param name="read">Reads the results, from the first result of the first command <paramref name="build"/> added.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>What <paramref name="read"/> returned.</returns>
    /// <exception cref="ArgumentException"><paramref name="build"/> added no command.</exception>
    /// <exception cref="TenantNotFoundException">No such tenant.</exception>
    /// <exception cref="TenantUnavailableException">The tenant's shard cannot serve the read; retry later.</exception>
    public Task<T> ReadBatchFromPrimaryAsync<T>(
        TenantId tenantId,
        Action<NpgsqlBatch> build,
        Func<NpgsqlDataReader, CancellationToken, Task<T>> read,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(read);
        return ReadCoreAsync(tenantId, (connection, ct) => ReadBatchAsTenantAsync(connection, tenantId, build, read, ct), null, primaryOnly: true, cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="read"/> as the tenant on the primary of its shard: for reads that must see every committed
    /// write, such as filling a cache that is invalidated on writes (a lagging replica would put stale data back).
    /// </summary>
    /// <typeparam name="T">What the read returns.</typeparam>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="read">The read.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>What <paramref name="read"/> returned.</returns>
    /// <exception cref="TenantNotFoundException">No such tenant.</exception>
    /// <exception cref="TenantUnavailableException">The tenant's shard cannot serve the read; retry later.</exception>
    public Task<T> ReadFromPrimaryAsync<T>(TenantId tenantId, Func<NpgsqlConnection, CancellationToken, Task<T>> read, CancellationToken cancellationToken = default)
        => ReadCoreAsync(tenantId, AsTenant(tenantId, read), null, primaryOnly: true, cancellationToken);

    /// <summary>The routing every read shares: <paramref name="asTenant"/> runs on a connection of the server the read goes to.</summary>
    private async Task<T> ReadCoreAsync<T>(
        TenantId tenantId,
        Func<NpgsqlConnection, CancellationToken, Task<T>> asTenant,
        ShardConsistencyToken? token,
        bool primaryOnly,
        CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        using var activity = TenancyActivities.Start(TenancyActivities.ReadSpan, tenantId);
        try
        {
            var placement = await RouteCoreAsync(tenantId, cancellationToken).ConfigureAwait(false);
            var onPrimary = primaryOnly;
            for (var attempt = 1; ; attempt++)
            {
                TenancyActivities.Routed(activity, placement, Map.Epoch);
                var entry = GetEntry(placement.ShardId);
                try
                {
                    await entry.EnsureSafeAsync(cancellationToken).ConfigureAwait(false);
                    if (!onPrimary && (token is null || token.Value.ShardId == placement.ShardId))
                    {
                        return await entry.DataSource.ReadAsync(asTenant, token?.Token, cancellationToken).ConfigureAwait(false);
                    }

                    // A token of another shard (the tenant moved since that write), or a replica that does not own the
                    // tenant yet: the primary has everything the move copied.
                    return await entry.DataSource.ReadFromPrimaryAsync(asTenant, cancellationToken).ConfigureAwait(false);
                }
                catch (PostgresException e) when (e.SqlState == ShardSchema.NotOwnedSqlState)
                {
                    TenancyActivities.RouteRefused(activity, placement, Map.Epoch, readOnly: false);
                    var next = await RerouteAsync(tenantId, placement, e, attempt, cancellationToken, sameRouteAllowed: !onPrimary).ConfigureAwait(false);
                    onPrimary = primaryOnly || next.ShardId == placement.ShardId;
                    placement = next;
                }
                catch (Exception e) when (e is PrimaryUnavailableException or ReadCapacityExceededException
                    || (TransientErrors.IsConnectionFailure(e) && !cancellationToken.IsCancellationRequested))
                {
                    throw Unavailable(tenantId, placement.ShardId, TenantUnavailableReason.ShardUnavailable, e);
                }
            }
        }
        catch (Exception e) when (TenancyActivities.Failed(activity, e))
        {
            throw;
        }
    }

    /// <summary>
    /// Prepares a query that runs on every shard (or <see cref="FanOutOptions.Shards"/>) at once — for platform-wide
    /// reports across tenants. It runs outside any tenant (no row-level security tenant is set: the shard connection's
    /// own role must be able to see the rows, and a <see cref="ScalingTenancyOptions.TenantRole"/> is not assumed).
    /// Enumerate the result; each row is tagged with its shard.
    /// </summary>
    /// <typeparam name="T">The row type.</typeparam>
    /// <param name="sql">The query; parameters are positional (<c>$1</c>, <c>$2</c>, …).</param>
    /// <param name="readRow">Reads one row from the reader.</param>
    /// <param name="parameters">The values of <c>$1</c>, <c>$2</c>, …, or <see langword="null"/>.</param>
    /// <param name="options">Policy, per-shard timeout and shard selection; defaults when <see langword="null"/>.</param>
    /// <returns>The query, to enumerate once.</returns>
    public FanOutQuery<T> FanOut<T>(string sql, Func<NpgsqlDataReader, T> readRow, IReadOnlyList<object?>? parameters = null, FanOutOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sql);
        ArgumentNullException.ThrowIfNull(readRow);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        options ??= new FanOutOptions();
        if (options.ShardTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"FanOutOptions.ShardTimeout is {options.ShardTimeout}; it must be positive.", nameof(options));
        }

        return new FanOutQuery<T>(this, sql, readRow, parameters ?? [], options, _logger);
    }

    /// <summary>
    /// The databases migrations apply to, for <see cref="Migrations.MigrationRunner"/>: the metadata database (named
    /// <c>metadata</c>) and the primary of every shard of the cached map (named by shard id).
    /// </summary>
    /// <param name="cancellationToken">Cancels a first load of the map.</param>
    /// <returns>The targets.</returns>
    public async Task<IReadOnlyList<Migrations.MigrationTarget>> GetMigrationTargetsAsync(CancellationToken cancellationToken = default)
    {
        await Map.StartAsync(cancellationToken).ConfigureAwait(false);
        var targets = new List<Migrations.MigrationTarget> { new("metadata", Migrations.MigrationTargetKind.Metadata, Map.Metadata) };
        targets.AddRange(Map.Shards.Select(s => new Migrations.MigrationTarget(s.Id, Migrations.MigrationTargetKind.Shard, GetShard(s.Id).Primary)));
        return targets;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        Task[] retiring;
        lock (_retiring)
        {
            retiring = [.. _retiring];
        }

        await Task.WhenAll(retiring).ConfigureAwait(false);
        foreach (var (id, lazy) in _shards)
        {
            if (!lazy.IsValueCreated)
            {
                continue;
            }

            try
            {
                await lazy.Value.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                TenancyLog.ShardDisposeFailed(_logger, id, e);
            }
        }

        _stopping.Dispose();
    }

    /// <summary>The tenant's placement in the cached map (loading the map on first use), without a span of its own.</summary>
    private ValueTask<TenantPlacement> RouteCoreAsync(TenantId tenantId, CancellationToken cancellationToken)
        => Map.TryGetTenant(tenantId, out var placement) ? ValueTask.FromResult(placement) : LoadPlacementAsync(tenantId, cancellationToken);

    private async ValueTask<TenantPlacement> LoadPlacementAsync(TenantId tenantId, CancellationToken cancellationToken)
        => await Map.GetTenantAsync(tenantId, cancellationToken).ConfigureAwait(false) ?? throw new TenantNotFoundException(tenantId);

    /// <summary><see cref="RouteAsync"/> with its <c>tenant route</c> span.</summary>
    private async ValueTask<TenantPlacement> RouteTracedAsync(TenantId tenantId, CancellationToken cancellationToken)
    {
        using var activity = TenancyActivities.Start(TenancyActivities.RouteSpan, tenantId);
        try
        {
            var placement = await RouteCoreAsync(tenantId, cancellationToken).ConfigureAwait(false);
            TenancyActivities.Routed(activity, placement, Map.Epoch);
            return placement;
        }
        catch (Exception e) when (TenancyActivities.Failed(activity, e))
        {
            throw;
        }
    }

    /// <summary>Enters the tenant in the open transaction: ownership check, RLS setting and (optionally) the tenant role, in one batch.</summary>
    internal async Task EnterAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, TenantId tenantId, bool write, CancellationToken cancellationToken)
    {
        using var batch = new NpgsqlBatch(connection, transaction);
        AddEntry(batch, tenantId, write);
        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Adds the tenant's entry to <paramref name="batch"/>, first, as one statement: the ownership check and RLS setting,
    /// and the tenant role if one is set (<c>set_config('role', …, true)</c>, which is <c>SET LOCAL ROLE</c>).
    /// </summary>
    private void AddEntry(NpgsqlBatch batch, TenantId tenantId, bool write)
    {
        var enter = new NpgsqlBatchCommand(_tenantRole is null ? ShardSchema.EnterSql : ShardSchema.EnterAsRoleSql);
        enter.Parameters.Add(new() { Value = tenantId.Value });
        enter.Parameters.Add(new() { Value = write });
        if (_tenantRole is not null)
        {
            enter.Parameters.Add(new() { Value = _tenantRole });
        }

        batch.BatchCommands.Insert(0, enter);
    }

    /// <summary><paramref name="read"/> in a transaction entered as the tenant (three round trips: the entry, the read, the commit).</summary>
    private Func<NpgsqlConnection, CancellationToken, Task<T>> AsTenant<T>(TenantId tenantId, Func<NpgsqlConnection, CancellationToken, Task<T>> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        return (connection, ct) => ReadAsTenantAsync(connection, tenantId, read, ct);
    }

    /// <summary>
    /// The entry and the read's commands in one batch without a transaction of its own: PostgreSQL runs a batch (up to
    /// its one Sync) as one implicit transaction, so the entry's settings (<c>set_config(…, true)</c>) hold for the
    /// read's commands and end with the batch.
    /// </summary>
    private async Task<T> ReadBatchAsTenantAsync<T>(
        NpgsqlConnection connection, TenantId tenantId, Action<NpgsqlBatch> build, Func<NpgsqlDataReader, CancellationToken, Task<T>> read, CancellationToken cancellationToken)
    {
        var batch = new NpgsqlBatch(connection);
        await using (batch.ConfigureAwait(false))
        {
            BuildAsTenant(batch, tenantId, write: false, build);
            var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                await reader.NextResultAsync(cancellationToken).ConfigureAwait(false); // past the entry's one row
                return await read(reader, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<T> ReadAsTenantAsync<T>(NpgsqlConnection connection, TenantId tenantId, Func<NpgsqlConnection, CancellationToken, Task<T>> read, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var transactionLifetime = transaction.ConfigureAwait(false);
        await EnterAsync(connection, transaction, tenantId, write: false, cancellationToken).ConfigureAwait(false);
        var value = await read(connection, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return value;
    }

    /// <summary>
    /// The shard refused the route: refresh the map and return the new placement when it changed; when it did not,
    /// return the same placement if <paramref name="sameRouteAllowed"/> (a read retried on the primary), else fail.
    /// </summary>
    private async Task<TenantPlacement> RerouteAsync(
        TenantId tenantId,
        TenantPlacement placement,
        PostgresException refusal,
        int attempt,
        CancellationToken cancellationToken,
        bool sameRouteAllowed = false)
    {
        var readOnly = refusal.SqlState == ShardSchema.ReadOnlySqlState;
        if (!readOnly)
        {
            Map.Instruments.StaleRoutes.Add(1);
            TenancyLog.StaleRoute(_logger, tenantId.Value, placement.ShardId, Map.Epoch);
        }

        if (attempt < MaxRouteAttempts)
        {
            await Map.RefreshAsync("stale_route", cancellationToken).ConfigureAwait(false);
            if (!Map.TryGetTenant(tenantId, out var next))
            {
                throw new TenantNotFoundException(tenantId);
            }

            if (next.ShardId != placement.ShardId || next.Epoch != placement.Epoch || sameRouteAllowed)
            {
                return next;
            }
        }

        throw Unavailable(tenantId, placement.ShardId, readOnly ? TenantUnavailableReason.ReadOnly : TenantUnavailableReason.RouteChanged, refusal);
    }

    private TenantUnavailableException Unavailable(TenantId tenantId, string shardId, TenantUnavailableReason reason, Exception? cause)
    {
        Map.Instruments.Unavailable.Add(1, TenancyInstruments.Tag("reason", reason.ToString()));
        TenancyLog.TenantUnavailable(_logger, tenantId.Value, shardId, reason.ToString(), cause);
        var message = reason switch
        {
            TenantUnavailableReason.ReadOnly => $"Tenant '{tenantId}' is read-only for a moment (a move to another shard is finishing); retry the write shortly.",
            TenantUnavailableReason.ShardUnavailable => $"Tenant '{tenantId}' is unavailable: its shard '{shardId}' cannot be reached.",
            _ => $"Tenant '{tenantId}' could not be routed: its shard '{shardId}' does not hold it and the shard map did not settle on another shard.",
        };
        return new TenantUnavailableException(tenantId, reason, _options.RetryAfter, message, cause);
    }

    private ShardEntry GetEntry(string shardId)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_shards.TryGetValue(shardId, out var existing) && Map.TryGetShard(shardId, out var current)
            && (ReferenceEquals(existing.Value.Shard, current) || existing.Value.Shard.SameServers(current)))
        {
            return existing.Value;
        }

        return CreateEntry(shardId);
    }

    private ShardEntry CreateEntry(string shardId)
    {
        if (!Map.TryGetShard(shardId, out var shard))
        {
            throw new ArgumentException($"The shard map (epoch {Map.Epoch}) has no shard '{DisplayText.Quote(shardId)}'.", nameof(shardId));
        }

        while (true)
        {
            var created = new Lazy<ShardEntry>(() => new ShardEntry(shard, this), LazyThreadSafetyMode.ExecutionAndPublication);
            var entry = _shards.GetOrAdd(shardId, created);
            if (entry.Value.Shard.SameServers(shard))
            {
                return entry.Value;
            }

            // The shard's servers changed in the map: replace its data source. The old one is retired: it closes after a
            // grace period that lets transactions begun on it finish, or when the router is disposed (which waits for it).
            if (_shards.TryUpdate(shardId, created, entry))
            {
                var old = entry.Value;
                lock (_retiring)
                {
                    _retiring.RemoveAll(static t => t.IsCompleted);
                    _retiring.Add(RetireAsync(old));
                }

                return created.Value;
            }
        }
    }

    /// <summary>Disposes a replaced shard entry after <see cref="RetireGrace"/>, or at once when the router is disposed.</summary>
    private async Task RetireAsync(ShardEntry old)
    {
        await Task.Delay(RetireGrace, _stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        try
        {
            await old.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            TenancyLog.ShardDisposeFailed(_logger, old.Shard.Id, e);
        }
    }

    /// <summary>One shard's data source, its health monitor, and the one-time check that its role cannot bypass row-level security.</summary>
    private sealed class ShardEntry : IAsyncDisposable
    {
        private readonly ShardRouter _router;
        private readonly CancellationTokenSource _monitorStop;
        private readonly Task _monitor;
        private Task? _safe;

        internal ShardEntry(ShardInfo shard, ShardRouter router)
        {
            Shard = shard;
            _router = router;
            var options = new ScalingDataOptions { Name = "shard-" + shard.Id, PrimaryConnectionString = shard.PrimaryConnectionString };
            foreach (var replica in shard.ReplicaConnectionStrings)
            {
                options.ReplicaConnectionStrings.Add(replica);
            }

            router._options.ConfigureShard?.Invoke(shard, options);
            DataSource = new ReadWriteDataSource(Microsoft.Extensions.Options.Options.Create(options), router._loggerFactory, router._meterFactory);
            _monitorStop = CancellationTokenSource.CreateLinkedTokenSource(router._stopping.Token);
            // Monitored even without replicas: the primary's probe is what notices a primary that stopped answering
            // (paused, partitioned), so that writes fail fast instead of each waiting for its command timeout.
            _monitor = DataSource.MonitorAsync(_monitorStop.Token);
        }

        internal ShardInfo Shard { get; }

        internal ReadWriteDataSource DataSource { get; }

        /// <summary>When no tenant role is configured, checks once that the connection's role is subject to row-level security.</summary>
        internal Task EnsureSafeAsync(CancellationToken cancellationToken)
        {
            if (_router._options.TenantRole is not null)
            {
                return Task.CompletedTask;
            }

            var safe = Volatile.Read(ref _safe);
            if (safe is { IsCompletedSuccessfully: true })
            {
                return safe;
            }

            if (safe is null || safe.IsFaulted || safe.IsCanceled)
            {
                safe = CheckRoleAsync();
                Volatile.Write(ref _safe, safe);
            }

            return safe.WaitAsync(cancellationToken);
        }

        public async ValueTask DisposeAsync()
        {
            await _monitorStop.CancelAsync().ConfigureAwait(false);
            await _monitor.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await DataSource.DisposeAsync().ConfigureAwait(false);
            _monitorStop.Dispose();
        }

        private async Task CheckRoleAsync()
        {
            _ = await DataSource.ReadFromPrimaryAsync(
                async (connection, ct) =>
                {
                    await ShardSchema.ThrowIfRoleBypassesRlsAsync(connection, Shard.Id, ct).ConfigureAwait(false);
                    return true;
                },
                _router._stopping.Token).ConfigureAwait(false);
        }
    }

    /// <summary>Entering the tenant failed on the connection, before any of the caller's work was sent.</summary>
    private sealed class EnterFailedException(Exception inner) : Exception("Entering the tenant failed on the connection.", inner);
}
