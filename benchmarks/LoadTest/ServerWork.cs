using System.Globalization;
using Npgsql;
using Scaling.Testing;
using StackExchange.Redis;

namespace Scaling.LoadTest;

/// <summary>One statement as <c>pg_stat_statements</c> counted it over the window, on one PostgreSQL server.</summary>
internal sealed record StatementFigure(string Server, string Query, double Calls, double ExecutionMs, double Rows, double BlocksHit, double BlocksRead);

/// <summary>One Redis command as <c>INFO commandstats</c> counted it over the window, summed over the shared Redis's masters.</summary>
internal sealed record CommandFigure(string Command, double Calls, double Microseconds);

/// <summary>
/// What the servers themselves did over the measured window, read from their own statistics: every statement PostgreSQL
/// ran (<c>pg_stat_statements</c>, preloaded by the harness), its transactions and table scans (<c>pg_stat_database</c>,
/// <c>pg_stat_user_tables</c>), and every command the shared Redis ran (<c>INFO commandstats</c>) with its slow log.
/// Divided by the answered requests, these are the round trips and statements per request, counted on the servers
/// rather than read from the code.
/// </summary>
internal sealed record ServerWork
{
    /// <summary>Statements, largest execution time first.</summary>
    public required IReadOnlyList<StatementFigure> Statements { get; init; }

    /// <summary>Redis commands, most calls first.</summary>
    public required IReadOnlyList<CommandFigure> Commands { get; init; }

    /// <summary>Transactions committed on the PostgreSQL servers (every server summed).</summary>
    public required double Commits { get; init; }

    /// <summary>Transactions rolled back on the PostgreSQL servers.</summary>
    public required double Rollbacks { get; init; }

    /// <summary>Sequential scans of the applications' tables.</summary>
    public required double SequentialScans { get; init; }

    /// <summary>Index scans of the applications' tables.</summary>
    public required double IndexScans { get; init; }

    /// <summary>Entries added to the shared Redis's slow log (commands slower than its 10 ms default).</summary>
    public required double SlowCommands { get; init; }

    /// <summary>The servers left out of every figure: not read at one end of the window (down or paused then), or restarted inside it.</summary>
    public required IReadOnlyList<string> NotRead { get; init; }
}

/// <summary>Takes the snapshots <see cref="ServerWork"/> is the difference of.</summary>
internal sealed class ServerWorkProbe : IAsyncDisposable
{
    private const string StatementsSql =
        """
        SELECT s.queryid, left(regexp_replace(s.query, '\s+', ' ', 'g'), 160), s.calls, s.total_exec_time, s.rows,
               s.shared_blks_hit, s.shared_blks_read
        FROM pg_stat_statements s
        JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname NOT IN ('postgres', 'template0', 'template1') AND s.query NOT LIKE '%pg_stat_%'
        """;

    private const string TotalsSql =
        """
        SELECT (SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database)::float8,
               (SELECT coalesce(sum(xact_rollback), 0) FROM pg_stat_database)::float8,
               (SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_user_tables)::float8,
               (SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_tables)::float8
        """;

    private readonly IReadOnlyList<(string Name, string ConnectionString)> _postgres;
    private readonly ConnectionMultiplexer _redis;

    private ServerWorkProbe(IReadOnlyList<(string, string)> postgres, ConnectionMultiplexer redis)
    {
        _postgres = postgres;
        _redis = redis;
    }

    /// <summary>
    /// Connects to every PostgreSQL server of the set (creating the extension where it is missing: on the primaries; a
    /// replica gets it by replication) and to the shared Redis (<paramref name="redisConfiguration"/>: one server or a cluster).
    /// </summary>
    public static async Task<ServerWorkProbe> StartAsync(TestServers servers, string redisConfiguration, CancellationToken cancellationToken)
    {
        var postgres = new List<(string, string)>();
        foreach (var server in new[] { servers.Shard1Primary, servers.Shard2Primary, servers.Metadata, servers.Shard1Replica })
        {
            var connectionString = server.ConnectionString(pooling: false);
            if (server.Primary is null)
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync(cancellationToken);
                await using var create = new NpgsqlCommand("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", connection);
                await create.ExecuteNonQueryAsync(cancellationToken);
            }

            postgres.Add((server.Name, connectionString));
        }

        var redis = await ConnectionMultiplexer.ConnectAsync(redisConfiguration + ",allowAdmin=true,abortConnect=true,connectTimeout=10000,syncTimeout=10000");
        return new ServerWorkProbe(postgres, redis);
    }

    /// <summary>The servers' counters now.</summary>
    public async Task<Snapshot> TakeAsync(CancellationToken cancellationToken)
    {
        var statements = new Dictionary<(string, long), StatementFigure>();
        var totals = new Dictionary<string, double[]>(StringComparer.Ordinal);
        var notRead = new List<string>();
        foreach (var (name, connectionString) in _postgres)
        {
            try
            {
                totals[name] = await ReadPostgresAsync(name, connectionString, statements, cancellationToken);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
            {
                notRead.Add(name); // a server down or paused at this end of the window (a fault run)
            }
        }

        var commands = new Dictionary<string, CommandFigure>(StringComparer.Ordinal);
        var slowlog = 0.0;
        try
        {
            slowlog = await ReadRedisAsync(commands);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            commands.Clear();
            notRead.Add("redis");
        }

        return new Snapshot(statements, commands, totals, slowlog, notRead);
    }

    private static async Task<double[]> ReadPostgresAsync(string name, string connectionString, Dictionary<(string, long), StatementFigure> statements, CancellationToken cancellationToken)
    {
        var totals = new double[4];
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            await using (var command = new NpgsqlCommand(StatementsSql, connection))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    var key = (name, reader.GetInt64(0));
                    var figure = new StatementFigure(name, reader.GetString(1), reader.GetInt64(2), reader.GetDouble(3), reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6));
                    statements[key] = statements.TryGetValue(key, out var same) ? Add(same, figure, 1) : figure;
                }
            }

            await using (var command = new NpgsqlCommand(TotalsSql, connection))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                await reader.ReadAsync(cancellationToken);
                for (var i = 0; i < totals.Length; i++)
                {
                    totals[i] = reader.GetDouble(i);
                }
            }
        }

        return totals;
    }

    private async Task<double> ReadRedisAsync(Dictionary<string, CommandFigure> commands)
    {
        var slowlog = 0.0;
        foreach (var server in _redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            foreach (var group in await server.InfoAsync("commandstats"))
            {
                foreach (var (key, value) in group)
                {
                    // cmdstat_evalsha: calls=123,usec=4567,usec_per_call=37.13,rejected_calls=0,failed_calls=0
                    var fields = value.Split(',').Select(f => f.Split('=')).Where(f => f.Length == 2).ToDictionary(f => f[0], f => f[1], StringComparer.Ordinal);
                    var figure = new CommandFigure(
                        key.Replace("cmdstat_", string.Empty, StringComparison.Ordinal).ToUpperInvariant(),
                        double.Parse(fields.GetValueOrDefault("calls", "0"), CultureInfo.InvariantCulture),
                        double.Parse(fields.GetValueOrDefault("usec", "0"), CultureInfo.InvariantCulture));
                    commands[figure.Command] = commands.TryGetValue(figure.Command, out var same) ? new CommandFigure(figure.Command, same.Calls + figure.Calls, same.Microseconds + figure.Microseconds) : figure;
                }
            }

            // SLOWLOG LEN is capped by slowlog-max-len (128); the newest entry's id counts every entry ever logged.
            var newest = (RedisResult[])(await server.ExecuteAsync("SLOWLOG", "GET", "1"))!;
            slowlog += newest.Length == 0 ? 0 : (long)((RedisResult[])newest[0]!)[0] + 1;
        }

        return slowlog;
    }

    /// <summary>What grew from <paramref name="before"/> to <paramref name="after"/>, on the servers read at both ends.</summary>
    public static ServerWork Between(Snapshot before, Snapshot after)
    {
        // A server restarted inside the window (a fault run) started its counters again: its figures would be short.
        var notRead = before.NotRead.Union(after.NotRead).ToHashSet(StringComparer.Ordinal);
        var reset = after.Totals
            .Where(t => !notRead.Contains(t.Key) && before.Totals.TryGetValue(t.Key, out var earlier) && t.Value[0] < earlier[0])
            .Select(t => t.Key)
            .ToList();
        if (!notRead.Contains("redis") && after.Commands.Any(c => before.Commands.TryGetValue(c.Key, out var earlier) && c.Value.Calls < earlier.Calls))
        {
            reset.Add("redis");
        }

        var labels = notRead.Concat(reset.Select(r => r + " (restarted: counters reset)")).Order(StringComparer.Ordinal).ToList();
        notRead.UnionWith(reset);
        double Total(int i) => after.Totals.Where(t => !notRead.Contains(t.Key)).Sum(t => t.Value[i] - before.Totals[t.Key][i]);
        var redisRead = !notRead.Contains("redis");
        return new()
        {
            Statements =
            [
                .. after.Statements
                    .Where(s => !notRead.Contains(s.Key.Server))
                    .Select(s => before.Statements.TryGetValue(s.Key, out var earlier) ? Add(s.Value, earlier, -1) : s.Value)
                    .Where(s => s.Calls > 0)
                    .OrderByDescending(s => s.ExecutionMs),
            ],
            Commands =
            [
                .. after.Commands
                    .Where(_ => redisRead)
                    .Select(c => before.Commands.TryGetValue(c.Key, out var earlier) ? new CommandFigure(c.Key, c.Value.Calls - earlier.Calls, c.Value.Microseconds - earlier.Microseconds) : c.Value)
                    .Where(c => c.Calls > 0 && c.Command is not ("INFO" or "SLOWLOG"))
                    .OrderByDescending(c => c.Calls),
            ],
            Commits = Total(0),
            Rollbacks = Total(1),
            SequentialScans = Total(2),
            IndexScans = Total(3),
            SlowCommands = redisRead ? Math.Max(0, after.SlowCommands - before.SlowCommands) : 0,
            NotRead = labels,
        };
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await _redis.DisposeAsync();

    private static StatementFigure Add(StatementFigure a, StatementFigure b, int sign) => a with
    {
        Calls = a.Calls + (sign * b.Calls),
        ExecutionMs = a.ExecutionMs + (sign * b.ExecutionMs),
        Rows = a.Rows + (sign * b.Rows),
        BlocksHit = a.BlocksHit + (sign * b.BlocksHit),
        BlocksRead = a.BlocksRead + (sign * b.BlocksRead),
    };

    /// <summary>The counters at one moment.</summary>
    internal sealed record Snapshot(
        IReadOnlyDictionary<(string Server, long QueryId), StatementFigure> Statements,
        IReadOnlyDictionary<string, CommandFigure> Commands,
        IReadOnlyDictionary<string, double[]> Totals,
        double SlowCommands,
        IReadOnlyList<string> NotRead);
}
