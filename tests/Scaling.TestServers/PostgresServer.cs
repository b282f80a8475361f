using System.Globalization;
using Npgsql;
using NpgsqlTypes;

namespace Scaling.Testing;

/// <summary>
/// A PostgreSQL server (a primary, or a streaming replica made with <c>pg_basebackup -R</c>) on a
/// loopback port, TCP only, trust authentication for the <c>postgres</c> superuser. Durability is
/// switched off (<c>fsync=off</c>): the data is thrown away with the set.
/// </summary>
public sealed class PostgresServer : ServerProcess
{
    /// <summary>The database created on every shard server (shard data) and replicated to the replica.</summary>
    public const string ShardDatabase = "scaling";

    /// <summary>The database created on the metadata server (shard map, tenants).</summary>
    public const string MetadataDatabase = "scaling_meta";

    private const string Superuser = "postgres";
    private readonly ServerBinaries _binaries;

    internal PostgresServer(string name, int port, string directory, string database, ServerBinaries binaries, PostgresServer? primary, TimeSpan startTimeout)
        : base(name, port, directory, startTimeout)
    {
        Database = database;
        _binaries = binaries;
        Primary = primary;
    }

    /// <summary>The database this server holds for its role (<see cref="ShardDatabase"/> or <see cref="MetadataDatabase"/>).</summary>
    public string Database { get; }

    /// <summary>The primary this server replicates from; null for a primary.</summary>
    public PostgresServer? Primary { get; }

    /// <summary>True for a streaming replica.</summary>
    public bool IsReplica => Primary is not null;

    /// <summary>
    /// A connection string for this server (user <c>postgres</c>, <paramref name="database"/> or the server's
    /// own <see cref="Database"/>); pass <paramref name="pooling"/> false for one-off connections.
    /// </summary>
    public string ConnectionString(string? database = null, bool pooling = true) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = Host,
            Port = Port,
            Username = Superuser,
            Database = database ?? Database,
            Pooling = pooling,
            Timeout = 5,
        }.ConnectionString;

    /// <summary>Runs one SQL statement on this server over a fresh, unpooled connection.</summary>
    public async Task ExecuteAsync(string sql, string? database = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(database, cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Runs a query on this server over a fresh, unpooled connection and returns the first column of the first row.</summary>
    public async Task<T> ScalarAsync<T>(string sql, string? database = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(database, cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is T typed
            ? typed
            : throw new InvalidOperationException($"'{sql}' on {Name} returned {value ?? "NULL"}, not a {typeof(T).Name}.");
    }

    /// <summary>
    /// The primary's current WAL insert position (<c>pg_current_wal_insert_lsn()</c>): just past every record
    /// written so far, including commits not yet written out (the harness runs with <c>synchronous_commit=off</c>,
    /// so <c>pg_current_wal_lsn()</c> can still be behind a commit that has returned).
    /// </summary>
    public Task<NpgsqlLogSequenceNumber> GetCurrentWalLsnAsync(CancellationToken cancellationToken = default) =>
        IsReplica
            ? throw new InvalidOperationException($"{Name} is a replica; ask its primary for the current WAL position.")
            : ScalarAsync<NpgsqlLogSequenceNumber>("SELECT pg_current_wal_insert_lsn()", cancellationToken: cancellationToken);

    /// <summary>How far this replica has replayed WAL (<c>pg_last_wal_replay_lsn()</c>).</summary>
    public Task<NpgsqlLogSequenceNumber> GetReplayLsnAsync(CancellationToken cancellationToken = default) =>
        IsReplica
            ? ScalarAsync<NpgsqlLogSequenceNumber>("SELECT pg_last_wal_replay_lsn()", cancellationToken: cancellationToken)
            : throw new InvalidOperationException($"{Name} is a primary; only a replica has a replay position.");

    /// <summary>
    /// Delays this replica's replay of each commit by <paramref name="delay"/>
    /// (<c>recovery_min_apply_delay</c>, applied with a configuration reload): WAL still arrives, but
    /// the replica's visible data and replay position lag the primary. <see cref="TimeSpan.Zero"/> removes the delay.
    /// </summary>
    public async Task SetReplayDelayAsync(TimeSpan delay, CancellationToken cancellationToken = default)
    {
        if (!IsReplica)
        {
            throw new InvalidOperationException($"{Name} is a primary; a replay delay applies to a replica only.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        var milliseconds = ((long)delay.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        await ExecuteAsync($"ALTER SYSTEM SET recovery_min_apply_delay = '{milliseconds}ms'", cancellationToken: cancellationToken);
        await ExecuteAsync("SELECT pg_reload_conf()", cancellationToken: cancellationToken);

        // The reload is asynchronous: wait until new sessions see the value (the postmaster has re-read the
        // file and signalled the startup process, which applies it before replaying the next record).
        for (var i = 0; i < 200; i++)
        {
            var current = await ScalarAsync<string>("SHOW recovery_min_apply_delay", cancellationToken: cancellationToken);
            if (delay == TimeSpan.Zero ? current == "0" : current != "0")
            {
                await Task.Delay(50, cancellationToken);
                return;
            }

            await Task.Delay(10, cancellationToken);
        }

        throw new TestServerException($"{Name} did not apply recovery_min_apply_delay = {milliseconds} ms after a configuration reload.");
    }

    /// <summary>Creates a database on this primary (it replicates to the primary's replicas).</summary>
    public async Task CreateDatabaseAsync(string name, CancellationToken cancellationToken = default)
    {
        if (IsReplica)
        {
            throw new InvalidOperationException($"{Name} is a read-only replica; create databases on its primary.");
        }

        var quoted = "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
        await ExecuteAsync($"CREATE DATABASE {quoted}", "postgres", cancellationToken);
    }

    private async Task<NpgsqlConnection> OpenAsync(string? database, CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(ConnectionString(database, pooling: false));
        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Creates a new cluster in <paramref name="directory"/> with initdb.</summary>
    internal static Task InitDbAsync(ServerBinaries binaries, string directory, CancellationToken cancellationToken) =>
        CommandRunner.RunAsync(
            CommandRunner.AsPostgresUser(binaries.Postgres("initdb"),
                ["-D", directory, "-U", Superuser, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"]),
            TimeSpan.FromMinutes(2), cancellationToken);

    /// <summary>Copies an initialised cluster (much faster than another initdb), keeping owner and modes.</summary>
    internal static Task CopyClusterAsync(string source, string destination, CancellationToken cancellationToken) =>
        CommandRunner.RunAsync(["cp", "-a", source, destination], TimeSpan.FromMinutes(1), cancellationToken);

    /// <summary>Makes a streaming replica of <paramref name="primary"/> in <paramref name="directory"/> (with a replication slot).</summary>
    internal static Task BaseBackupAsync(ServerBinaries binaries, PostgresServer primary, string directory, string slot, CancellationToken cancellationToken) =>
        CommandRunner.RunAsync(
            CommandRunner.AsPostgresUser(binaries.Postgres("pg_basebackup"),
            [
                "-h", primary.Host, "-p", primary.Port.ToString(CultureInfo.InvariantCulture), "-U", Superuser,
                "-D", directory, "-R", "-X", "stream", "-c", "fast", "-C", "-S", slot, "--no-sync",
            ]),
            TimeSpan.FromMinutes(2), cancellationToken);

    private protected override IReadOnlyList<string> ServerCommand() =>
        CommandRunner.AsPostgresUser(_binaries.Postgres("postgres"),
        [
            "-D", Directory,
            "-p", Port.ToString(CultureInfo.InvariantCulture),
            "-c", "listen_addresses=" + Host,
            "-c", "unix_socket_directories=",
            "-c", "max_connections=300",
            "-c", "shared_buffers=64MB",
            "-c", "fsync=off",
            "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
            "-c", "wal_level=replica",
            "-c", "max_wal_senders=10",
            "-c", "max_replication_slots=10",
            "-c", "hot_standby=on",
            "-c", "hot_standby_feedback=on",
            "-c", "wal_receiver_status_interval=1s",
            // A killed replica's walsender keeps its replication slot until the primary notices the dead connection
            // (wal_sender_timeout, 60 s by default); the restarted replica cannot stream until then and its lag grows, so a
            // test waiting for it to be readmitted could wait a minute. The replica reports every second (above), so 5 s
            // only ends connections that are really gone, or paused; the replica then retries every second.
            "-c", "wal_sender_timeout=5s",
            "-c", "wal_retrieve_retry_interval=1s",
            // Statement statistics for the load test's cost figures (a hash and a few counters per statement).
            "-c", "shared_preload_libraries=pg_stat_statements",
            "-c", "logging_collector=off",
            "-c", "log_min_messages=warning",
        ]);

    private protected override bool RunsThroughRunuser => Posix.IsRoot;

    private protected override void BeforeStart()
    {
        // After a kill, postmaster.pid stays behind. PostgreSQL refuses to start while the pid in it
        // exists, and a killed postmaster can linger as a zombie when nothing reaps orphans (PID 1 in
        // some containers). The harness knows that server is dead: remove the stale lock file.
        var lockFile = System.IO.Path.Combine(Directory, "postmaster.pid");
        if (File.Exists(lockFile)
            && int.TryParse(File.ReadLines(lockFile).FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            && !Posix.IsAlive(pid))
        {
            File.Delete(lockFile);
        }
    }

    private protected override void AfterKilled()
    {
        // A killed postmaster leaves its small System V shared memory segment behind (a shutdown removes it, and a
        // restart would, but BeforeStart deletes the lock file that names it). Left there, they add up over runs until
        // the kernel's limit (SHMMNI, 4,096) is reached and no PostgreSQL can start on the machine: remove it. Line 7 of
        // postmaster.pid holds the segment's key and id.
        var lockFile = System.IO.Path.Combine(Directory, "postmaster.pid");
        try
        {
            var lines = File.ReadAllLines(lockFile);
            var segment = lines.Length >= 7 ? lines[6].Split(' ', StringSplitOptions.RemoveEmptyEntries) : [];
            if (segment.Length == 2 && int.TryParse(segment[1], NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                Posix.RemoveSharedMemorySegment(id);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // No lock file (the server never got that far, or its folder is gone): nothing to remove.
        }
    }

    // SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
    private protected override int GracefulStopSignal => Posix.SigInt;

    private protected override async Task ProbeAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(ConnectionString("postgres", pooling: false));
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        await command.ExecuteScalarAsync(cancellationToken);
    }
}
