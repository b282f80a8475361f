using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Scaling.Data.Partitions;

/// <summary>
/// Keeps monthly range partitions of declared tables: creates the current month's and
/// <see cref="PartitionedTable.MonthsAhead"/> more, and detaches (optionally drops) those that ended more than
/// <see cref="PartitionedTable.RetentionMonths"/> months before the current month. Idempotent: running it again
/// changes nothing; two instances running it at once serialize on a PostgreSQL advisory lock per table.
/// Months are calendar months in UTC.
/// </summary>
public sealed class PartitionMaintainer
{
    private const string KeySql = """
        SELECT pt.partstrat::text, pt.partnatts, format_type(a.atttypid, a.atttypmod)
        FROM pg_partitioned_table pt
        JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
        WHERE pt.partrelid = to_regclass($1)
        """;

    private const string PartitionsSql = """
        SELECT c.relname
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = to_regclass($1)
        """;

    private readonly NpgsqlDataSource _primary;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates a maintainer for tables on <paramref name="primary"/>.</summary>
    /// <param name="primary">The primary that holds the tables (e.g. <see cref="ReadWriteDataSource.Primary"/>).</param>
    /// <param name="logger">Logs what each run did; none when <see langword="null"/>.</param>
    /// <param name="timeProvider">Tells the current month; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    public PartitionMaintainer(NpgsqlDataSource primary, ILogger<PartitionMaintainer>? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(primary);
        _primary = primary;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Maintains each table in turn.</summary>
    /// <param name="tables">The tables.</param>
    /// <param name="cancellationToken">Cancels the run.</param>
    /// <returns>What was done to each table.</returns>
    public async Task<IReadOnlyList<PartitionMaintenanceResult>> MaintainAsync(IEnumerable<PartitionedTable> tables, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tables);
        var results = new List<PartitionMaintenanceResult>();
        foreach (var table in tables)
        {
            results.Add(await MaintainAsync(table, cancellationToken).ConfigureAwait(false));
        }

        return results;
    }

    /// <summary>Maintains one table, in one transaction under an advisory lock.</summary>
    /// <param name="table">The table.</param>
    /// <param name="cancellationToken">Cancels the run.</param>
    /// <returns>What was done.</returns>
    /// <exception cref="InvalidOperationException">The table does not exist or is not range-partitioned on one date/timestamp column.</exception>
    public async Task<PartitionMaintenanceResult> MaintainAsync(PartitionedTable table, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        var connection = await _primary.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var connectionLifetime = connection.ConfigureAwait(false);
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var transactionLifetime = transaction.ConfigureAwait(false);
        await ExecuteAsync(connection, transaction, "SELECT pg_advisory_xact_lock(hashtextextended('scaling.partitions:' || $1, 0))", cancellationToken, table.Name).ConfigureAwait(false);

        var keyType = await ReadKeyTypeAsync(connection, transaction, table, cancellationToken).ConfigureAwait(false);
        var existing = new HashSet<string>(StringComparer.Ordinal);
        using (var command = new NpgsqlCommand(PartitionsSql, connection, transaction) { Parameters = { new() { Value = table.QualifiedName } } })
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    existing.Add(reader.GetString(0));
                }
            }
        }

        var now = _timeProvider.GetUtcNow();
        var current = new DateOnly(now.Year, now.Month, 1);
        var created = new List<string>();
        for (var month = current; month <= current.AddMonths(table.MonthsAhead); month = month.AddMonths(1))
        {
            var name = table.PartitionName(month.Year, month.Month);
            if (existing.Contains(name))
            {
                continue;
            }

            var sql = $"CREATE TABLE {table.QualifiedPartitionName(name)} PARTITION OF {table.QualifiedName} FOR VALUES FROM ({Literal(month, keyType)}) TO ({Literal(month.AddMonths(1), keyType)})";
            await ExecuteAsync(connection, transaction, sql, cancellationToken).ConfigureAwait(false);
            created.Add(name);
        }

        var detached = new List<string>();
        var dropped = new List<string>();
        if (table.RetentionMonths is { } retention)
        {
            var cutoff = current.AddMonths(-retention);
            foreach (var name in existing.Order(StringComparer.Ordinal))
            {
                if (TryParseMonth(table, name, out var month) && month.AddMonths(1) <= cutoff)
                {
                    await ExecuteAsync(connection, transaction, $"ALTER TABLE {table.QualifiedName} DETACH PARTITION {table.QualifiedPartitionName(name)}", cancellationToken).ConfigureAwait(false);
                    detached.Add(name);
                    if (table.DropDetached)
                    {
                        await ExecuteAsync(connection, transaction, $"DROP TABLE {table.QualifiedPartitionName(name)}", cancellationToken).ConfigureAwait(false);
                        dropped.Add(name);
                    }
                }
            }
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        if (created.Count + detached.Count > 0)
        {
            DataLog.PartitionsMaintained(_logger, table.Name, string.Join(", ", created), string.Join(", ", detached), string.Join(", ", dropped));
        }

        return new PartitionMaintenanceResult(table.Name, created, detached, dropped);
    }

    /// <summary>Runs maintenance of <paramref name="tables"/> now and then every <paramref name="interval"/> until cancelled; a failing table is logged and retried next time.</summary>
    /// <param name="tables">The tables.</param>
    /// <param name="interval">Time between runs.</param>
    /// <param name="cancellationToken">Stops the loop.</param>
    /// <returns>A task that completes when the loop stops.</returns>
    public async Task RunAsync(IReadOnlyList<PartitionedTable> tables, TimeSpan interval, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tables);
        using var timer = new PeriodicTimer(interval, _timeProvider);
        do
        {
            foreach (var table in tables)
            {
                try
                {
                    await MaintainAsync(table, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
#pragma warning disable CA1031 // One table's failure must not stop the others or the next run; it is logged.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    DataLog.PartitionMaintenanceFailed(_logger, table.Name, e);
                }
            }

            try
            {
                if (!await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        while (true);
    }

    private static async Task<string> ReadKeyTypeAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, PartitionedTable table, CancellationToken cancellationToken)
    {
        using var command = new NpgsqlCommand(KeySql, connection, transaction) { Parameters = { new() { Value = table.QualifiedName } } };
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerLifetime = reader.ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException($"Partition maintenance: {DisplayText.Quote(table.Name)} does not exist or is not a partitioned table (create it with PARTITION BY RANGE on a date or timestamp column).");
        }

        var strategy = reader.GetString(0);
        var keyCount = reader.GetInt16(1);
        var type = reader.IsDBNull(2) ? "an expression" : reader.GetString(2);
        if (strategy != "r" || keyCount != 1 || type is not ("date" or "timestamp without time zone" or "timestamp with time zone"))
        {
            throw new InvalidOperationException($"Partition maintenance: {DisplayText.Quote(table.Name)} must be partitioned BY RANGE on one date, timestamp or timestamptz column (it is partitioned by {(strategy == "r" ? "range" : strategy == "l" ? "list" : "hash")} on {keyCount} key(s) of type {type}).");
        }

        return type;
    }

    private static string Literal(DateOnly month, string keyType) => keyType == "timestamp with time zone"
        ? string.Create(CultureInfo.InvariantCulture, $"'{month:yyyy-MM-dd} 00:00:00+00'")
        : string.Create(CultureInfo.InvariantCulture, $"'{month:yyyy-MM-dd}'");

    private static bool TryParseMonth(PartitionedTable table, string partition, out DateOnly month)
    {
        month = default;
        var prefix = table.Table + "_p";
        return partition.Length == prefix.Length + 6
            && partition.StartsWith(prefix, StringComparison.Ordinal)
            && DateOnly.TryParseExact(partition.AsSpan(prefix.Length), "yyyyMM", CultureInfo.InvariantCulture, DateTimeStyles.None, out month);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken, params object[] parameters)
    {
        using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var value in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
