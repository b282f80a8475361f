using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Scaling.Tenancy.Migrations;

/// <summary>
/// Applies ordered SQL migrations to the metadata database and every shard, each target versioned on its own in its
/// history table, and reports where each target stands.
/// </summary>
/// <remarks>
/// <para>
/// Per target, on one connection: take a session-level advisory lock keyed on the history table's qualified name
/// (waiting up to <see cref="MigrationRunnerOptions.LockTimeout"/>), create the history table if missing, check that no
/// applied script has changed, then apply the pending migrations in version order — each in its own transaction
/// together with its history row — and release the lock. Two runners started at once therefore apply each migration
/// exactly once: the second waits, then finds everything applied.
/// </para>
/// <para>
/// A target that fails (unreachable, lock timeout, changed script, failing script) is reported in
/// <see cref="MigrationReport"/> and does not stop the other targets; a failed migration was rolled back, so running
/// again later resumes exactly where each target stopped. Only cancellation and invalid arguments throw.
/// </para>
/// </remarks>
public sealed class MigrationRunner
{
    private readonly ILogger _logger;
    private readonly MigrationHistory _history;
    private readonly TimeSpan _lockTimeout;
    private readonly int _commandTimeoutSeconds;
    private readonly int _maxParallelism;
    private readonly bool _allowOutOfOrder;

    /// <summary>Creates a runner.</summary>
    /// <param name="options">
    /// The options (copied; later changes have no effect); the defaults when <see langword="null"/>. Outside DI, wrap
    /// them with <c>Options.Create</c>.
    /// </param>
    /// <param name="logger">Logs each applied migration, failures and warnings; none when <see langword="null"/>.</param>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">An option is invalid (the message names each).</exception>
    public MigrationRunner(Microsoft.Extensions.Options.IOptions<MigrationRunnerOptions>? options = null, ILogger<MigrationRunner>? logger = null)
    {
        var value = options?.Value ?? new MigrationRunnerOptions();
        MigrationRunnerOptionsValidator.ThrowIfInvalid(value);
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _history = new MigrationHistory(value.HistorySchema, value.HistoryTable);
        _lockTimeout = value.LockTimeout;
        _commandTimeoutSeconds = (int)value.CommandTimeout.TotalSeconds;
        _maxParallelism = value.MaxParallelism;
        _allowOutOfOrder = value.AllowOutOfOrder;
    }

    /// <summary>The quoted, schema-qualified history table this runner uses in every target.</summary>
    public string HistoryTable => _history.QualifiedName;

    /// <summary>
    /// Brings every target to the latest version of the migrations that apply to it, up to
    /// <see cref="MigrationRunnerOptions.MaxParallelism"/> targets at a time.
    /// </summary>
    /// <param name="targets">The targets (names unique).</param>
    /// <param name="migrations">The migrations, in any order (versions unique).</param>
    /// <param name="cancellationToken">Cancels the run: the migration in progress on each target is rolled back.</param>
    /// <returns>What was done to each target, failures included.</returns>
    /// <exception cref="ArgumentException">Two targets have the same name, or an element is null.</exception>
    /// <exception cref="MigrationLoadException">Two migrations have the same version.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<MigrationReport> RunAsync(IEnumerable<MigrationTarget> targets, IEnumerable<SqlMigration> migrations, CancellationToken cancellationToken = default)
    {
        var targetList = CheckTargets(targets);
        var set = SqlMigrationLoader.FromCode(migrations);
        var started = Stopwatch.GetTimestamp();
        var results = new MigrationTargetResult[targetList.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, targetList.Count),
            new ParallelOptions { MaxDegreeOfParallelism = _maxParallelism, CancellationToken = cancellationToken },
            async (i, token) => results[i] = await MigrateAsync(targetList[i], set, token).ConfigureAwait(false)).ConfigureAwait(false);
        var duration = Stopwatch.GetElapsedTime(started);
        var failed = results.Count(r => !r.Succeeded);
        MigrationLog.RunFinished(_logger, duration.TotalMilliseconds, results.Length - failed, failed);
        return new MigrationReport(results, duration);
    }

    /// <summary>
    /// Reads where each target stands against <paramref name="migrations"/> without changing anything (no lock, no
    /// history table created). An unreachable target is reported, not thrown.
    /// </summary>
    /// <param name="targets">The targets (names unique).</param>
    /// <param name="migrations">The migrations, in any order (versions unique).</param>
    /// <param name="cancellationToken">Cancels the reading.</param>
    /// <returns>Each target's version, pending migrations and changed scripts.</returns>
    /// <exception cref="ArgumentException">Two targets have the same name, or an element is null.</exception>
    /// <exception cref="MigrationLoadException">Two migrations have the same version.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<MigrationStatusReport> GetStatusAsync(IEnumerable<MigrationTarget> targets, IEnumerable<SqlMigration> migrations, CancellationToken cancellationToken = default)
    {
        var targetList = CheckTargets(targets);
        var set = SqlMigrationLoader.FromCode(migrations);
        var results = new MigrationTargetStatus[targetList.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, targetList.Count),
            new ParallelOptions { MaxDegreeOfParallelism = _maxParallelism, CancellationToken = cancellationToken },
            async (i, token) => results[i] = await ReadStatusAsync(targetList[i], set, token).ConfigureAwait(false)).ConfigureAwait(false);
        return new MigrationStatusReport(results);
    }

    private static List<MigrationTarget> CheckTargets(IEnumerable<MigrationTarget> targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var list = targets.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var target in list)
        {
            if (target is null)
            {
                throw new ArgumentException("The targets contain a null element.", nameof(targets));
            }

            if (!names.Add(target.Name))
            {
                throw new ArgumentException($"Two targets are named {DisplayText.Quote(target.Name)}: target names must be unique.", nameof(targets));
            }
        }

        return list;
    }

    private async Task<MigrationTargetStatus> ReadStatusAsync(MigrationTarget target, IReadOnlyList<SqlMigration> set, CancellationToken cancellationToken)
    {
        NpgsqlConnection connection;
        try
        {
            connection = await target.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!IsCancellation(e, cancellationToken))
        {
            return new MigrationTargetStatus(target.Name, target.Kind, false, null, 0, [], [], [], $"Target {target.Name} could not be reached: {e.Message}");
        }

        await using (connection.ConfigureAwait(false))
        {
            try
            {
                var applied = await _history.ReadAsync(connection, cancellationToken).ConfigureAwait(false);
                var plan = Plan(target, set, applied);
                return new MigrationTargetStatus(target.Name, target.Kind, true, plan.Version, applied.Count, plan.Pending, plan.Mismatches, plan.Unknown, null);
            }
            catch (Exception e) when (!IsCancellation(e, cancellationToken))
            {
                var reachable = connection.FullState.HasFlag(System.Data.ConnectionState.Open);
                return new MigrationTargetStatus(target.Name, target.Kind, reachable, null, 0, [], [], [], $"The migration history of target {target.Name} could not be read: {e.Message}");
            }
        }
    }

    private async Task<MigrationTargetResult> MigrateAsync(MigrationTarget target, IReadOnlyList<SqlMigration> set, CancellationToken cancellationToken)
    {
        long? before = null;
        long? after = null;
        var applied = new List<AppliedMigration>();
        List<long> unknown = [];
        SqlMigration? current = null;
        NpgsqlConnection? connection = null;
        try
        {
            try
            {
                connection = await target.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!IsCancellation(e, cancellationToken))
            {
                throw new MigrationException(target.Name, MigrationFailureReason.Unreachable, null, null, $"Target {target.Name} could not be reached: {e.Message}", e);
            }

            await LockAsync(connection, target, cancellationToken).ConfigureAwait(false);
            try
            {
                await _history.EnsureCreatedAsync(connection, cancellationToken).ConfigureAwait(false);
                var history = await _history.ReadAsync(connection, cancellationToken).ConfigureAwait(false);
                var plan = Plan(target, set, history);
                before = after = plan.Version;
                unknown = plan.Unknown;
                if (unknown.Count > 0)
                {
                    MigrationLog.UnknownApplied(_logger, target.Name, string.Join(", ", unknown));
                }

                CheckPlan(target, plan);
                if (plan.Pending.Count == 0)
                {
                    MigrationLog.UpToDate(_logger, target.Name, plan.Version);
                }
                else
                {
                    MigrationLog.Migrating(_logger, target.Name, target.Kind, plan.Version, plan.Pending.Count);
                }

                foreach (var migration in plan.Pending)
                {
                    current = migration;
                    var duration = await ApplyAsync(connection, migration, cancellationToken).ConfigureAwait(false);
                    applied.Add(new AppliedMigration(migration.Version, migration.Name, duration, migration.Transactional));
                    after = Math.Max(after.Value, migration.Version);
                    current = null;
                    MigrationLog.Applied(_logger, target.Name, migration.Version, migration.Name, duration.TotalMilliseconds);
                }
            }
            finally
            {
                await UnlockAsync(connection, target).ConfigureAwait(false);
            }

            return new MigrationTargetResult(target.Name, target.Kind, before, after, applied, unknown, null);
        }
        catch (Exception e) when (!IsCancellation(e, cancellationToken))
        {
            var error = e as MigrationException ?? Describe(target, e, current, after);
            MigrationLog.TargetFailed(_logger, target.Name, error.Reason, error.Message, error);
            return new MigrationTargetResult(target.Name, target.Kind, before, after, applied, unknown, error);
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static MigrationException Describe(MigrationTarget target, Exception e, SqlMigration? current, long? version)
    {
        if (current is null)
        {
            return new MigrationException(target.Name, MigrationFailureReason.DatabaseError, null, null,
                $"Target {target.Name} failed before any migration ran (creating or reading the history table): {e.Message}", e);
        }

        var at = version is { } v ? v.ToString(CultureInfo.InvariantCulture) : "unknown";
        var consequence = current.Transactional
            ? $"it was rolled back and the target stays at version {at}"
            : $"it ran without a transaction (no-transaction), so part of it may have been applied: check the database before running again; the target's recorded version stays {at}";
        if (e is PostgresException { SqlState: PostgresErrorCodes.ActiveSqlTransaction })
        {
            consequence += current.Transactional
                ? "; a statement that cannot run in a transaction needs its own migration with the '-- scaling: no-transaction' directive"
                : "; several statements sent together run as one implicit transaction, so give each such statement its own no-transaction migration";
        }
        return new MigrationException(target.Name, MigrationFailureReason.MigrationFailed, current.Version, current.Name,
            $"Migration {current} failed on target {target.Name}: {e.Message} — {consequence}.", e);
    }

    private static bool IsCancellation(Exception e, CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested && e is OperationCanceledException or NpgsqlException { InnerException: OperationCanceledException };

    private static (long Version, List<SqlMigration> Pending, List<ChecksumMismatch> Mismatches, List<long> Unknown) Plan(
        MigrationTarget target, IReadOnlyList<SqlMigration> set, SortedDictionary<long, (string Name, string Checksum)> history)
    {
        var applicable = set.Where(m => target.Receives(m.Scope)).ToList();
        var known = applicable.Select(m => m.Version).ToHashSet();
        var version = history.Count == 0 ? 0 : history.Keys.Max();
        var pending = applicable.Where(m => !history.ContainsKey(m.Version)).ToList();
        var mismatches = applicable
            .Where(m => history.TryGetValue(m.Version, out var h) && !string.Equals(h.Checksum, m.Checksum, StringComparison.OrdinalIgnoreCase))
            .Select(m => new ChecksumMismatch(m.Version, m.Name, history[m.Version].Checksum, m.Checksum))
            .ToList();
        var unknown = history.Keys.Where(v => !known.Contains(v)).ToList();
        return (version, pending, mismatches, unknown);
    }

    private void CheckPlan(MigrationTarget target, (long Version, List<SqlMigration> Pending, List<ChecksumMismatch> Mismatches, List<long> Unknown) plan)
    {
        if (plan.Mismatches.Count > 0)
        {
            var first = plan.Mismatches[0];
            var list = string.Join("; ", plan.Mismatches.Select(m =>
                $"{SqlMigration.Describe(m.Version, m.Name)} was applied with checksum {m.AppliedChecksum[..Math.Min(12, m.AppliedChecksum.Length)]}… but its script now has {m.CurrentChecksum[..12]}…"));
            throw new MigrationException(target.Name, MigrationFailureReason.ChecksumMismatch, first.Version, first.Name,
                $"Target {target.Name}: an applied migration has changed — {list}. Nothing was applied: restore the original script and add a new migration for the change.");
        }

        if (!_allowOutOfOrder && plan.Pending.Count > 0 && plan.Pending[0].Version < plan.Version)
        {
            var older = plan.Pending.Where(m => m.Version < plan.Version).ToList();
            throw new MigrationException(target.Name, MigrationFailureReason.OutOfOrder, older[0].Version, older[0].Name,
                string.Create(CultureInfo.InvariantCulture,
                    $"Target {target.Name} is at version {plan.Version}, but older migration(s) {string.Join(", ", older)} are not applied. Nothing was applied: renumber them after {plan.Version}, or set MigrationRunnerOptions.AllowOutOfOrder to apply them anyway."));
        }
    }

    private async Task<TimeSpan> ApplyAsync(NpgsqlConnection connection, SqlMigration migration, CancellationToken cancellationToken)
    {
        TimeSpan duration;
        if (migration.Transactional)
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var transactionLifetime = transaction.ConfigureAwait(false);
            var started = Stopwatch.GetTimestamp();
            using (var command = new NpgsqlCommand(migration.Sql, connection, transaction) { CommandTimeout = _commandTimeoutSeconds })
            {
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            duration = Stopwatch.GetElapsedTime(started);
            await _history.InsertAsync(connection, transaction, migration, duration, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var started = Stopwatch.GetTimestamp();
            using (var command = new NpgsqlCommand(migration.Sql, connection) { CommandTimeout = _commandTimeoutSeconds })
            {
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            duration = Stopwatch.GetElapsedTime(started);
            await _history.InsertAsync(connection, null, migration, duration, cancellationToken).ConfigureAwait(false);
        }

        // A script's SET (without LOCAL) must not leak into the next migration on this connection.
        using (var reset = new NpgsqlCommand("RESET ALL", connection))
        {
            await reset.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return duration;
    }

    private async Task LockAsync(NpgsqlConnection connection, MigrationTarget target, CancellationToken cancellationToken)
    {
        using (var attempt = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", connection) { Parameters = { new() { Value = _history.LockKey } } })
        {
            if ((bool)(await attempt.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
            {
                return;
            }
        }

        MigrationLog.WaitingForLock(_logger, target.Name, _lockTimeout.TotalMilliseconds);

        // A session-level lock taken inside a transaction outlives the transaction; the transaction only scopes lock_timeout.
        try
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var transactionLifetime = transaction.ConfigureAwait(false);
            using (var timeout = new NpgsqlCommand("SELECT set_config('lock_timeout', $1, true)", connection, transaction)
            {
                Parameters = { new() { Value = ((long)_lockTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms" } },
            })
            {
                await timeout.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            using (var wait = new NpgsqlCommand("SELECT pg_advisory_lock($1)", connection, transaction) { CommandTimeout = 0, Parameters = { new() { Value = _history.LockKey } } })
            {
                await wait.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            throw new MigrationException(target.Name, MigrationFailureReason.LockTimeout, null, null,
                string.Create(CultureInfo.InvariantCulture,
                    $"Another runner holds the migration lock on target {target.Name} (history table {_history.QualifiedName}); gave up after waiting {_lockTimeout.TotalSeconds:0.###} s."),
                e);
        }
    }

    private async Task UnlockAsync(NpgsqlConnection connection, MigrationTarget target)
    {
        try
        {
            using var command = new NpgsqlCommand("SELECT pg_advisory_unlock($1)", connection) { CommandTimeout = 15, Parameters = { new() { Value = _history.LockKey } } };
            await command.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            // A broken connection lost the lock with its session. Otherwise make sure this connection is not pooled
            // (a pooled session would keep holding the lock).
            MigrationLog.UnlockFailed(_logger, target.Name, e);
            NpgsqlConnection.ClearPool(connection);
        }
    }
}
