using System.Data;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Scaling.Tenancy.Sharding;

/// <summary>
/// Moves a tenant between two independent PostgreSQL clusters while it keeps being served: its rows are copied in one
/// snapshot while a trigger records the keys of rows that change meanwhile; catch-up rounds re-copy those rows; then
/// writes are fenced (the tenant is read-only on the source) for a final catch-up only, the map epoch is flipped and
/// pushed, and the source's copy is deleted.
/// </summary>
/// <remarks>
/// <para>
/// Requests during a move either succeed on the right shard or fail with a retryable
/// <see cref="TenantUnavailableException"/>: the fence is the source shard's ownership row, and every tenant write holds
/// a shared lock on the tenant until it commits (an advisory lock under read committed, the row's share lock under
/// stricter isolation), so the fence waits for writes in flight and no write can slip past it, whatever an instance's
/// map says; after the flip the source refuses the tenant, so instances with a stale map are corrected.
/// </para>
/// <para>
/// The tables moved are <see cref="ScalingTenancyOptions.TenantTables"/>; each needs a <c>tenant_id</c> column and a
/// primary key, and both shards must have the same schema (run the same migrations). Rows are written on the target
/// with <c>session_replication_role = replica</c> (no user triggers fire, foreign keys are not re-checked), which needs
/// the shard connection's role to be a superuser. Identity and serial sequences on the target are advanced past the
/// copied values. If anything fails before the flip, the move is rolled back and the tenant stays on its source.
/// </para>
/// </remarks>
public sealed class TenantMover
{
    private const int MaxOpenRounds = 20;
    private const int MaxChangesPerRound = 20_000;
    private const int DdlLockTimeoutMilliseconds = 200;
    private const int DdlAttempts = 10;

    private readonly IShardAccess _router;
    private readonly ScalingTenancyOptions _options;
    private readonly ILogger _logger;

    /// <summary>Creates a mover that uses the router's map, shards and options.</summary>
    /// <param name="router">The router.</param>
    public TenantMover(ShardRouter router)
    {
        ArgumentNullException.ThrowIfNull(router);
        IShardAccess access = router;
        _router = access;
        _options = access.Options;
        _logger = access.LoggerFactory.CreateLogger<TenantMover>();
    }

    /// <summary>Moves a tenant to another shard. At most one move per tenant at a time (run moves from one place).</summary>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="targetShardId">The shard to move it to.</param>
    /// <param name="cancellationToken">Cancels the move before the flip (it is then rolled back).</param>
    /// <returns>What the move did and how long writes were paused.</returns>
    /// <exception cref="InvalidOperationException">No tenant tables are configured, the tenant is already on the target, or a table lacks a primary key or <c>tenant_id</c>.</exception>
    /// <exception cref="TenantNotFoundException">No such tenant.</exception>
    /// <exception cref="TenantMoveException">The move failed and was rolled back; the tenant is served from its source.</exception>
    public async Task<TenantMoveResult> MoveAsync(TenantId tenantId, string targetShardId, CancellationToken cancellationToken = default)
    {
        ShardIds.ThrowIfInvalid(targetShardId, nameof(targetShardId));
        if (_options.TenantTables.Count == 0)
        {
            throw new InvalidOperationException("ScalingTenancyOptions.TenantTables is empty: list the tables that hold tenant rows so that a move knows what to copy.");
        }

        await _router.Map.StartAsync(cancellationToken).ConfigureAwait(false);
        await _router.Map.RefreshAsync("change", cancellationToken).ConfigureAwait(false);
        var placement = await _router.RouteAsync(tenantId, cancellationToken).ConfigureAwait(false);
        if (!_router.Map.TryGetShard(targetShardId, out _))
        {
            throw new ArgumentException($"The shard map has no shard '{DisplayText.Quote(targetShardId)}'.", nameof(targetShardId));
        }

        if (placement.State == TenantState.Moving && placement.MoveTargetShardId is { } abandoned)
        {
            // A previous move died before its flip: undo what it left, then start over.
            var leftover = new Move(this, tenantId, placement.ShardId, abandoned, await DescribeTablesAsync(_router.GetShard(placement.ShardId).Primary, cancellationToken).ConfigureAwait(false));
            await leftover.RollBackAsync(new InvalidOperationException("An earlier move of this tenant did not finish.")).ConfigureAwait(false);
            placement = await _router.RouteAsync(tenantId, cancellationToken).ConfigureAwait(false);
        }

        if (placement.ShardId == targetShardId)
        {
            throw new InvalidOperationException($"Tenant '{tenantId}' is already on shard '{targetShardId}'.");
        }

        var tables = await DescribeTablesAsync(_router.GetShard(placement.ShardId).Primary, cancellationToken).ConfigureAwait(false);
        var move = new Move(this, tenantId, placement.ShardId, targetShardId, tables);
        return await move.RunAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes what a move left of a tenant on a shard that no longer holds it (its rows, ownership row and change
    /// capture) — needed only when <see cref="TenantMoveResult.SourceCleanedUp"/> was <see langword="false"/>.
    /// </summary>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="shardId">The shard to clean; the map must place the tenant on another shard.</param>
    /// <param name="cancellationToken">Cancels the clean-up.</param>
    /// <returns>A task that completes when the shard holds nothing of the tenant.</returns>
    /// <exception cref="InvalidOperationException">The map places the tenant on <paramref name="shardId"/> (or is moving it there).</exception>
    public async Task CleanUpAsync(TenantId tenantId, string shardId, CancellationToken cancellationToken = default)
    {
        ShardIds.ThrowIfInvalid(shardId, nameof(shardId));
        await _router.Map.RefreshAsync("change", cancellationToken).ConfigureAwait(false);
        var placement = await _router.RouteAsync(tenantId, cancellationToken).ConfigureAwait(false);
        if (placement.ShardId == shardId || placement.MoveTargetShardId == shardId)
        {
            throw new InvalidOperationException($"Tenant '{tenantId}' is on (or moving to) shard '{shardId}'; only a shard that no longer holds it can be cleaned up.");
        }

        var tables = await DescribeTablesAsync(_router.GetShard(shardId).Primary, cancellationToken).ConfigureAwait(false);
        await new Move(this, tenantId, shardId, placement.ShardId, tables).CleanUpSourceAsync(cancellationToken).ConfigureAwait(false);
    }

    private static string TriggerName(TenantId tenantId)
        => "scaling_move_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(tenantId.Value)))[..16];

    private async Task<TableInfo[]> DescribeTablesAsync(NpgsqlDataSource source, CancellationToken cancellationToken)
    {
        const string ColumnsSql = """
            SELECT a.attname::text, a.attgenerated <> '', pg_get_serial_sequence($1, a.attname) IS NOT NULL
            FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
            """;
        const string KeySql = """
            SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
            WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)
            """;
        var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var connectionLifetime = connection.ConfigureAwait(false);
        var tables = new List<TableInfo>();
        foreach (var table in _options.TenantTables)
        {
            var columns = new List<string>();
            var sequenced = new List<string>();
            var hasTenant = false;
            var exists = false;
            using (var command = new NpgsqlCommand(ColumnsSql, connection))
            {
                command.Parameters.Add(new() { Value = table });
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using var readerLifetime = reader.ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    exists = true;
                    var name = reader.GetString(0);
                    hasTenant |= name == "tenant_id";
                    if (!reader.GetBoolean(1))
                    {
                        columns.Add(name);
                    }

                    if (reader.GetBoolean(2))
                    {
                        sequenced.Add(name);
                    }
                }
            }

            var key = new List<string>();
            using (var command = new NpgsqlCommand(KeySql, connection))
            {
                command.Parameters.Add(new() { Value = table });
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using var readerLifetime = reader.ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    key.Add(reader.GetString(0));
                }
            }

            if (!exists || !hasTenant || key.Count == 0)
            {
                throw new InvalidOperationException(
                    $"The tenant table '{table}' on the source shard {(!exists ? "has no columns" : !hasTenant ? "has no tenant_id column" : "has no primary key")}; every table in ScalingTenancyOptions.TenantTables needs a tenant_id column and a primary key.");
            }

            tables.Add(new TableInfo(table, Sql.QualifiedName(table), columns, key, sequenced));
        }

        return [.. tables];
    }

    private sealed record TableInfo(string Name, string Quoted, IReadOnlyList<string> Columns, IReadOnlyList<string> Key, IReadOnlyList<string> Sequenced)
    {
        internal string ColumnList => Sql.List(Columns);

        internal string KeyList => Sql.List(Key);
    }

    /// <summary>One move: its steps, and the roll-back of whatever was done before the flip.</summary>
    private sealed class Move(TenantMover mover, TenantId tenantId, string sourceId, string targetId, TableInfo[] tables)
    {
        private readonly NpgsqlDataSource _source = mover._router.GetShard(sourceId).Primary;
        private readonly NpgsqlDataSource _target = mover._router.GetShard(targetId).Primary;
        private readonly string _tenantLiteral = Sql.Literal(tenantId.Value);
        private readonly string _trigger = Sql.Identifier(TriggerName(tenantId));
        private long _changesApplied;

        internal async Task<TenantMoveResult> RunAsync(CancellationToken cancellationToken)
        {
            var total = Stopwatch.StartNew();
            long rows;
            var rounds = 0;
            TimeSpan pause;
            long epoch;
            await SetMapStateAsync("moving", targetId, cancellationToken).ConfigureAwait(false);
            try
            {
                Step("preparing the target");
                await PrepareTargetAsync(cancellationToken).ConfigureAwait(false);
                await InstallCaptureAsync(cancellationToken).ConfigureAwait(false);
                Step("copying");
                rows = await BulkCopyAsync(cancellationToken).ConfigureAwait(false);
                int changed;
                do
                {
                    changed = await CatchUpAsync(cancellationToken).ConfigureAwait(false);
                    rounds++;
                }
                while (changed > mover._options.MoveFenceThreshold && rounds < MaxOpenRounds);

                Step("fencing writes for the final catch-up");
                var fenced = Stopwatch.StartNew();
                using (var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    budget.CancelAfter(mover._options.MaxMoveWritePause);
                    try
                    {
                        await SetOwnershipAsync(_source, "read_only", budget.Token, lockTimeout: mover._options.MaxMoveWritePause).ConfigureAwait(false);
                        while (await CatchUpAsync(budget.Token).ConfigureAwait(false) > 0)
                        {
                            rounds++;
                        }

                        rounds++;
                        await AdvanceSequencesAsync(budget.Token).ConfigureAwait(false);
                        await SetOwnershipAsync(_target, "active", budget.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException e) when (budget.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                    {
                        throw new TimeoutException($"The final catch-up did not finish within ScalingTenancyOptions.MaxMoveWritePause ({mover._options.MaxMoveWritePause.TotalSeconds:0.###} s).", e);
                    }
                    catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
                    {
                        throw new TimeoutException($"Writes in flight held the tenant longer than ScalingTenancyOptions.MaxMoveWritePause ({mover._options.MaxMoveWritePause.TotalSeconds:0.###} s).", e);
                    }
                }

                epoch = await FlipAsync().ConfigureAwait(false);
                pause = fenced.Elapsed;
            }
            catch (Exception e)
            {
                if (await FlipHappenedAsync().ConfigureAwait(false))
                {
                    throw new TenantMoveException(tenantId, sourceId, targetId, rolledBack: false, $"The move of tenant '{tenantId}' to '{targetId}' reached its flip but then failed; the tenant is on '{targetId}'. Its read-only copy on '{sourceId}' is refused to every route; delete it with TenantMover.CleanUpAsync.", e);
                }

                await RollBackAsync(e).ConfigureAwait(false);
                throw new TenantMoveException(tenantId, sourceId, targetId, rolledBack: true, $"The move of tenant '{tenantId}' from '{sourceId}' to '{targetId}' failed and was rolled back; the tenant is served from '{sourceId}'. {e.Message}", e);
            }

            mover._router.Map.Instruments.MoveWritePause.Record(pause.TotalSeconds);
            mover._router.Map.Instruments.Moves.Add(1, TenancyInstruments.Tag("outcome", "completed"));
            var cleaned = await TryCleanUpSourceAsync().ConfigureAwait(false);
            TenancyLog.MoveCompleted(mover._logger, tenantId.Value, sourceId, targetId, rows, pause.TotalMilliseconds, rounds);
            return new TenantMoveResult(tenantId, sourceId, targetId, rows, rounds, _changesApplied, pause, total.Elapsed, epoch, cleaned);
        }

        /// <summary>Undoes everything a move did before its flip; each step is attempted even if an earlier one fails.</summary>
        internal async Task RollBackAsync(Exception cause)
        {
            TenancyLog.MoveRolledBack(mover._logger, tenantId.Value, sourceId, targetId, cause);
            mover._router.Map.Instruments.Moves.Add(1, TenancyInstruments.Tag("outcome", "rolled_back"));
            await TryAsync("removing the change capture from the source", () => DropCaptureAsync(_source, CancellationToken.None)).ConfigureAwait(false);
            await TryAsync("unfencing the source", () => SetOwnershipAsync(_source, "active", CancellationToken.None)).ConfigureAwait(false);
            await TryAsync("deleting the target's copy", () => DeleteCopyAsync(_target, CancellationToken.None)).ConfigureAwait(false);
            await TryAsync("marking the tenant active in the map", () => SetMapStateAsync("active", null, CancellationToken.None)).ConfigureAwait(false);
        }

        private void Step(string step) => TenancyLog.MoveStep(mover._logger, tenantId.Value, sourceId, targetId, step);

        private async Task TryAsync(string step, Func<Task> action)
        {
            try
            {
                await action().ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                TenancyLog.MoveRollbackFailed(mover._logger, tenantId.Value, step, e);
            }
        }

        private Task<long> SetMapStateAsync(string state, string? target, CancellationToken cancellationToken)
            => mover._router.Map.SetTenantStateAsync(tenantId, state, target, cancellationToken);

        private Task<long> FlipAsync()
            => mover._router.Map.FlipTenantAsync(tenantId, targetId, CancellationToken.None);

        private async Task<bool> FlipHappenedAsync()
        {
            try
            {
                await mover._router.Map.RefreshAsync("change", CancellationToken.None).ConfigureAwait(false);
                return mover._router.Map.TryGetTenant(tenantId, out var now) && now.ShardId == targetId;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                return false;
            }
        }

        /// <summary>The target must not serve the tenant: its ownership row becomes 'incoming' and any leftover rows of an earlier attempt are deleted.</summary>
        private async Task PrepareTargetAsync(CancellationToken cancellationToken)
        {
            await DeleteCopyAsync(_target, cancellationToken).ConfigureAwait(false);
            var connection = await _target.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var connectionLifetime = connection.ConfigureAwait(false);
            using var command = new NpgsqlCommand(
                "INSERT INTO scaling_tenancy.owned_tenants (tenant_id, state) VALUES ($1, 'incoming') ON CONFLICT (tenant_id) DO UPDATE SET state = 'incoming', changed_at = now()",
                connection);
            command.Parameters.Add(new() { Value = tenantId.Value });
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        private async Task InstallCaptureAsync(CancellationToken cancellationToken)
        {
            var sql = new StringBuilder();
            sql.Append(CultureInfo.InvariantCulture, $"DELETE FROM scaling_tenancy.move_changes WHERE tenant_id = {_tenantLiteral};");
            foreach (var table in tables)
            {
                var args = string.Join(", ", new[] { tenantId.Value, table.Name }.Concat(table.Key).Select(Sql.Literal));
                sql.Append(CultureInfo.InvariantCulture, $"DROP TRIGGER IF EXISTS {_trigger} ON {table.Quoted};");
                sql.Append(CultureInfo.InvariantCulture, $"CREATE TRIGGER {_trigger} AFTER INSERT OR UPDATE OR DELETE ON {table.Quoted} FOR EACH ROW EXECUTE FUNCTION scaling_tenancy.capture_change({args});");
            }

            await RunDdlAsync(_source, sql.ToString(), cancellationToken).ConfigureAwait(false);
        }

        private async Task DropCaptureAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
        {
            var sql = new StringBuilder($"DELETE FROM scaling_tenancy.move_changes WHERE tenant_id = {_tenantLiteral};");
            foreach (var table in tables)
            {
                sql.Append(CultureInfo.InvariantCulture, $"DROP TRIGGER IF EXISTS {_trigger} ON {table.Quoted};");
            }

            await RunDdlAsync(dataSource, sql.ToString(), cancellationToken).ConfigureAwait(false);
        }

        /// <summary>
        /// Runs trigger DDL with a short lock timeout, retried: CREATE/DROP TRIGGER waits for every transaction writing the
        /// table (any tenant), and while it waits it holds up every new writer, so it must never queue for long.
        /// </summary>
        private static async Task RunDdlAsync(NpgsqlDataSource dataSource, string sql, CancellationToken cancellationToken)
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                    await using var connectionLifetime = connection.ConfigureAwait(false);
                    var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                    await using var transactionLifetime = transaction.ConfigureAwait(false);
                    using (var command = new NpgsqlCommand($"SET LOCAL lock_timeout = {DdlLockTimeoutMilliseconds}; {sql}", connection, transaction))
                    {
                        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }

                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                    return;
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable && attempt < DdlAttempts)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(50, 250)), cancellationToken).ConfigureAwait(false);
                }
            }
        }

        /// <summary>Copies every row of the tenant in one snapshot of the source, in one transaction on the target.</summary>
        private async Task<long> BulkCopyAsync(CancellationToken cancellationToken)
        {
            var source = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var sourceLifetime = source.ConfigureAwait(false);
            var snapshot = await source.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
            await using var snapshotLifetime = snapshot.ConfigureAwait(false);
            var target = await _target.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var targetLifetime = target.ConfigureAwait(false);
            var transaction = await target.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var transactionLifetime = transaction.ConfigureAwait(false);
            await ReplicaModeAsync(target, transaction, cancellationToken).ConfigureAwait(false);
            long rows = 0;
            foreach (var table in tables)
            {
                using (var count = new NpgsqlCommand($"SELECT count(*) FROM {table.Quoted} WHERE tenant_id = {_tenantLiteral}", source, snapshot))
                {
                    rows += (long)(await count.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
                }

                await CopyAsync(source, target, table, $"tenant_id = {_tenantLiteral}", cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            await snapshot.CommitAsync(cancellationToken).ConfigureAwait(false);
            return rows;
        }

        /// <summary>
        /// One catch-up round: in one snapshot of the source, reads the recorded changes and the current rows for their
        /// keys; on the target, deletes those keys and inserts the rows (so updates, inserts and deletes all land); then
        /// forgets the changes applied. Returns how many changes it applied.
        /// </summary>
        private async Task<int> CatchUpAsync(CancellationToken cancellationToken)
        {
            var source = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var sourceLifetime = source.ConfigureAwait(false);
            var ids = new List<long>();
            var keys = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            var snapshot = await source.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
            await using (snapshot.ConfigureAwait(false))
            {
                using (var command = new NpgsqlCommand(
                    $"SELECT id, table_name, key::text FROM scaling_tenancy.move_changes WHERE tenant_id = $1 ORDER BY id LIMIT {MaxChangesPerRound}",
                    source,
                    snapshot))
                {
                    command.Parameters.Add(new() { Value = tenantId.Value });
                    var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                    await using var readerLifetime = reader.ConfigureAwait(false);
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        ids.Add(reader.GetInt64(0));
                        var table = reader.GetString(1);
                        if (!keys.TryGetValue(table, out var set))
                        {
                            keys[table] = set = new HashSet<string>(StringComparer.Ordinal);
                        }

                        set.Add(reader.GetString(2));
                    }
                }

                if (ids.Count == 0)
                {
                    return 0;
                }

                var target = await _target.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                await using var targetLifetime = target.ConfigureAwait(false);
                var transaction = await target.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using var transactionLifetime = transaction.ConfigureAwait(false);
                await ReplicaModeAsync(target, transaction, cancellationToken).ConfigureAwait(false);
                var changed = tables.Where(t => keys.ContainsKey(t.Name)).Select(t => (Table: t, Json: "[" + string.Join(",", keys[t.Name]) + "]")).ToArray();
                foreach (var (table, json) in changed)
                {
                    using var delete = new NpgsqlCommand(
                        $"DELETE FROM {table.Quoted} WHERE tenant_id = $1 AND ({table.KeyList}) IN (SELECT {table.KeyList} FROM jsonb_populate_recordset(NULL::{table.Quoted}, $2::jsonb))",
                        target,
                        transaction);
                    delete.Parameters.Add(new() { Value = tenantId.Value });
                    delete.Parameters.Add(new() { Value = json });
                    await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                foreach (var (table, json) in changed)
                {
                    await CopyAsync(
                        source,
                        target,
                        table,
                        $"tenant_id = {_tenantLiteral} AND ({table.KeyList}) IN (SELECT {table.KeyList} FROM jsonb_populate_recordset(NULL::{table.Quoted}, {Sql.Literal(json)}::jsonb))",
                        cancellationToken).ConfigureAwait(false);
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                await snapshot.CommitAsync(cancellationToken).ConfigureAwait(false);
            }

            using (var forget = new NpgsqlCommand("DELETE FROM scaling_tenancy.move_changes WHERE tenant_id = $1 AND id = ANY ($2)", source))
            {
                forget.Parameters.Add(new() { Value = tenantId.Value });
                forget.Parameters.Add(new() { Value = ids.ToArray() });
                await forget.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            _changesApplied += ids.Count;
            return ids.Count;
        }

        private static async Task CopyAsync(NpgsqlConnection source, NpgsqlConnection target, TableInfo table, string where, CancellationToken cancellationToken)
        {
            var reader = await source.BeginRawBinaryCopyAsync(
                $"COPY (SELECT {table.ColumnList} FROM {table.Quoted} WHERE {where}) TO STDOUT (FORMAT BINARY)",
                cancellationToken).ConfigureAwait(false);
            await using var readerLifetime = reader.ConfigureAwait(false);
            var writer = await target.BeginRawBinaryCopyAsync($"COPY {table.Quoted} ({table.ColumnList}) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false);
            await using var writerLifetime = writer.ConfigureAwait(false);
            await reader.CopyToAsync(writer, cancellationToken).ConfigureAwait(false);
        }

        private static async Task ReplicaModeAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
        {
            using var command = new NpgsqlCommand("SET LOCAL session_replication_role = replica", connection, transaction);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Moves each identity/serial sequence of the target past the largest value the copy brought in.</summary>
        private async Task AdvanceSequencesAsync(CancellationToken cancellationToken)
        {
            var sql = new StringBuilder();
            foreach (var table in tables)
            {
                foreach (var column in table.Sequenced)
                {
                    var c = Sql.Identifier(column);
                    var sequence = $"pg_get_serial_sequence({Sql.Literal(table.Quoted)}, {Sql.Literal(column)})::regclass";
                    sql.Append(CultureInfo.InvariantCulture, $"""
                        SELECT setval(s, m) FROM (SELECT {sequence} AS s, (SELECT max({c}) FROM {table.Quoted}) AS m) x
                        WHERE m IS NOT NULL AND m > COALESCE(pg_sequence_last_value(s), 0);
                        """);
                }
            }

            if (sql.Length == 0)
            {
                return;
            }

            var connection = await _target.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var connectionLifetime = connection.ConfigureAwait(false);
            using var command = new NpgsqlCommand(sql.ToString(), connection);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        private async Task SetOwnershipAsync(NpgsqlDataSource dataSource, string state, CancellationToken cancellationToken, TimeSpan? lockTimeout = null)
        {
            var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var connectionLifetime = connection.ConfigureAwait(false);
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var transactionLifetime = transaction.ConfigureAwait(false);
            if (lockTimeout is { } timeout)
            {
                using var set = new NpgsqlCommand($"SET LOCAL lock_timeout = {(long)Math.Ceiling(timeout.TotalMilliseconds)}", connection, transaction);
                await set.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            // The fence waits for the writes in flight: those under read committed hold the tenant's advisory lock shared,
            // the others (and the reminder worker's batches) a share lock on the row, which the update waits for.
            // "state <> $2": a change that changes nothing must not wait for either.
            using (var batch = new NpgsqlBatch(connection, transaction))
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand(
                    $"SELECT pg_advisory_xact_lock({ShardSchema.TenantLockSpace}, hashtext(tenant_id)) FROM scaling_tenancy.owned_tenants WHERE tenant_id = $1 AND state <> $2")
                {
                    Parameters = { new() { Value = tenantId.Value }, new() { Value = state } },
                });
                batch.BatchCommands.Add(new NpgsqlBatchCommand("UPDATE scaling_tenancy.owned_tenants SET state = $2, changed_at = now() WHERE tenant_id = $1 AND state <> $2")
                {
                    Parameters = { new() { Value = tenantId.Value }, new() { Value = state } },
                });
                await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Deletes the tenant's rows and ownership from a shard that must not hold it (the target on roll-back, a leftover before a copy).</summary>
        private async Task DeleteCopyAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
        {
            var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var connectionLifetime = connection.ConfigureAwait(false);
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var transactionLifetime = transaction.ConfigureAwait(false);
            await ReplicaModeAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
            var sql = new StringBuilder();
            foreach (var table in tables.Reverse())
            {
                sql.Append(CultureInfo.InvariantCulture, $"DELETE FROM {table.Quoted} WHERE tenant_id = {_tenantLiteral};");
            }

            sql.Append(CultureInfo.InvariantCulture, $"DELETE FROM scaling_tenancy.owned_tenants WHERE tenant_id = {_tenantLiteral};");
            using (var command = new NpgsqlCommand(sql.ToString(), connection, transaction))
            {
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        /// <summary>After the flip: drops the capture and deletes the source's copy and ownership in one transaction (replicas see both at once).</summary>
        internal async Task CleanUpSourceAsync(CancellationToken cancellationToken)
        {
            Step("deleting the source's copy");
            await DropCaptureAsync(_source, cancellationToken).ConfigureAwait(false);
            await DeleteCopyAsync(_source, cancellationToken).ConfigureAwait(false);
        }

        private async Task<bool> TryCleanUpSourceAsync()
        {
            try
            {
                await CleanUpSourceAsync(CancellationToken.None).ConfigureAwait(false);
                return true;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                TenancyLog.MoveRollbackFailed(mover._logger, tenantId.Value, "deleting the source's copy", e);
                return false;
            }
        }
    }
}
