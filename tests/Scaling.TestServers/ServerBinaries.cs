namespace Scaling.Testing;

/// <summary>
/// Locates the server programs the harness runs: PostgreSQL's <c>initdb</c>, <c>postgres</c> and
/// <c>pg_basebackup</c>, and <c>redis-server</c>. Nothing is installed here: a missing program ends
/// with a <see cref="TestServerException"/> that says how to install it.
/// </summary>
public sealed class ServerBinaries
{
    /// <summary>Environment variable naming the folder with PostgreSQL's server programs.</summary>
    public const string PostgresBinVariable = "SCALING_PG_BIN";

    /// <summary>Environment variable naming the <c>redis-server</c> program.</summary>
    public const string RedisServerVariable = "SCALING_REDIS_SERVER";

    private ServerBinaries(string postgresBinDirectory, string redisServer)
    {
        PostgresBinDirectory = postgresBinDirectory;
        RedisServer = redisServer;
    }

    /// <summary>The folder holding <c>postgres</c>, <c>initdb</c> and <c>pg_basebackup</c>.</summary>
    public string PostgresBinDirectory { get; }

    /// <summary>The full path of <c>redis-server</c>.</summary>
    public string RedisServer { get; }

    /// <summary>
    /// The full path of <c>redis-cli</c> (beside <c>redis-server</c>, else on <c>PATH</c>), which creates and drives a Redis
    /// Cluster (<see cref="RedisCluster"/>).
    /// </summary>
    /// <exception cref="TestServerException">It is missing.</exception>
    public string RedisCli()
    {
        var beside = Path.Combine(Path.GetDirectoryName(RedisServer) ?? string.Empty, "redis-cli");
        return File.Exists(beside) ? beside
            : FindOnPath("redis-cli")
            ?? throw new TestServerException("'redis-cli' was not found beside redis-server or on PATH; install it with 'sudo apt-get install -y redis-tools'.");
    }

    /// <summary>Full path of a PostgreSQL program in <see cref="PostgresBinDirectory"/>.</summary>
    public string Postgres(string program) => Path.Combine(PostgresBinDirectory, program);

    /// <summary>
    /// Finds the programs. Explicit arguments win, then the environment variables
    /// <see cref="PostgresBinVariable"/> and <see cref="RedisServerVariable"/>, then the usual places
    /// (Debian's <c>/usr/lib/postgresql/N/bin</c>, the newest N; <c>PATH</c>).
    /// </summary>
    /// <exception cref="TestServerException">A program is missing.</exception>
    public static ServerBinaries Locate(string? postgresBinDirectory = null, string? redisServer = null)
    {
        var pgBin = postgresBinDirectory
            ?? Environment.GetEnvironmentVariable(PostgresBinVariable)
            ?? FindPostgresBin();
        string[] pgPrograms = ["postgres", "initdb", "pg_basebackup"];
        var missing = pgBin is null ? "postgres" : pgPrograms.FirstOrDefault(p => !File.Exists(Path.Combine(pgBin, p)));
        if (missing is not null)
        {
            var where = pgBin is null ? "/usr/lib/postgresql/*/bin or PATH" : pgBin;
            throw new TestServerException(
                $"PostgreSQL's '{missing}' was not found in {where}; install it with 'sudo apt-get install -y postgresql postgresql-contrib' " +
                $"or set {PostgresBinVariable} to the folder that holds postgres, initdb and pg_basebackup.");
        }

        var redis = redisServer
            ?? Environment.GetEnvironmentVariable(RedisServerVariable)
            ?? FindOnPath("redis-server");
        if (redis is null || !File.Exists(redis))
        {
            var where = redis ?? "PATH";
            throw new TestServerException(
                $"'redis-server' was not found ({where}); install it with 'sudo apt-get install -y redis-server' " +
                $"or set {RedisServerVariable} to its full path.");
        }

        return new ServerBinaries(pgBin!, redis);
    }

    private static string? FindPostgresBin()
    {
        const string debianRoot = "/usr/lib/postgresql";
        if (Directory.Exists(debianRoot))
        {
            var newest = Directory.GetDirectories(debianRoot)
                .Select(d => (Dir: d, Version: int.TryParse(Path.GetFileName(d), out var v) ? v : -1))
                .Where(x => x.Version >= 0 && File.Exists(Path.Combine(x.Dir, "bin", "postgres")))
                .OrderByDescending(x => x.Version)
                .Select(x => Path.Combine(x.Dir, "bin"))
                .FirstOrDefault();
            if (newest is not null)
            {
                return newest;
            }
        }

        var onPath = FindOnPath("postgres");
        return onPath is null ? null : Path.GetDirectoryName(onPath);
    }

    private static string? FindOnPath(string program)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);
    }
}
