using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Scaling.Testing;

/// <summary>
/// The real servers the tests, the benchmarks and the local run of BookingHost use, started together
/// on loopback ports in one temporary folder: PostgreSQL shard 1 (primary + streaming replica),
/// shard 2 (primary), the metadata server, and three independent <c>redis-server</c> masters (the
/// Redlock quorum; the first also serves cache, rate limits and pub/sub).
/// </summary>
/// <remarks>
/// Disposing the set kills every server and removes the folder. If the owning process dies without
/// disposing (an aborted test run), a watchdog process does the same. Each server can be stopped,
/// killed, paused, resumed and restarted (see <see cref="ServerProcess"/>), and the replica's replay
/// can be delayed (<see cref="PostgresServer.SetReplayDelayAsync"/>).
/// </remarks>
public sealed class TestServers : IAsyncDisposable
{
    /// <summary>The prefix of the set's temporary folder.</summary>
    public const string FolderPrefix = "scaling-servers-";

    /// <summary>The file in the set's folder that describes the servers (JSON: name, port, connection string).</summary>
    public const string ManifestFileName = "servers.json";

    private const int MaxPortAttempts = 3;
    private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };
    private readonly List<ServerProcess> _all = [];
    private readonly List<int> _external = [];
    private readonly Lock _pidsLock = new();
    private readonly HashSet<int> _usedPorts = [];
    private readonly SemaphoreSlim _clusterGate = new(1, 1);
    private ServerBinaries? _binaries;
    private TimeSpan _startTimeout;
    private RedisCluster? _cluster;
    private Watchdog? _watchdog;
    private int _disposed;

    private TestServers(string rootDirectory) => RootDirectory = rootDirectory;

    /// <summary>The set's temporary folder (removed on dispose).</summary>
    public string RootDirectory { get; }

    /// <summary>Shard 1's primary (database <see cref="PostgresServer.ShardDatabase"/>).</summary>
    public PostgresServer Shard1Primary { get; private set; } = null!;

    /// <summary>Shard 1's streaming replica.</summary>
    public PostgresServer Shard1Replica { get; private set; } = null!;

    /// <summary>Shard 2's primary (database <see cref="PostgresServer.ShardDatabase"/>).</summary>
    public PostgresServer Shard2Primary { get; private set; } = null!;

    /// <summary>The metadata server (database <see cref="PostgresServer.MetadataDatabase"/>).</summary>
    public PostgresServer Metadata { get; private set; } = null!;

    /// <summary>Three independent Redis masters; <c>Redis[0]</c> also serves cache, rate limits and pub/sub.</summary>
    public IReadOnlyList<RedisServer> Redis { get; private set; } = [];

    /// <summary>Every server of the set.</summary>
    public IReadOnlyList<ServerProcess> All => _all;

    /// <summary>How long <see cref="StartAsync"/> took, from call to every server answering.</summary>
    public TimeSpan StartupTime { get; private set; }

    /// <summary>
    /// Starts the whole set and returns once every server answers. Fails with a
    /// <see cref="TestServerException"/> (one clear sentence) when a program is missing or a fixed port
    /// is taken; whatever was started by then is torn down.
    /// </summary>
    public static async Task<TestServers> StartAsync(TestServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new TestServerOptions();
        var stopwatch = Stopwatch.StartNew();
        var binaries = ServerBinaries.Locate(options.PostgresBinDirectory, options.RedisServerPath);
        var fixedPorts = options.BasePort is { } basePort ? Enumerable.Range(basePort, 7).ToArray() : null;
        if (fixedPorts is not null)
        {
            string[] names = ["redis-1", "redis-2", "redis-3", "metadata", "shard1-primary", "shard1-replica", "shard2-primary"];
            var taken = fixedPorts.Select((port, i) => (port, name: names[i])).FirstOrDefault(x => !FreePorts.IsFree(x.port));
            if (taken.name is not null)
            {
                throw new TestServerException(
                    $"Port {taken.port} on 127.0.0.1 (for {taken.name}) is already in use by another process; stop it or choose another base port.");
            }
        }

        var root = options.TemporaryRoot is null
            ? Directory.CreateTempSubdirectory(FolderPrefix).FullName
            : Directory.CreateDirectory(Path.Combine(options.TemporaryRoot, FolderPrefix + Guid.NewGuid().ToString("N")[..12])).FullName;
        var set = new TestServers(root);
        try
        {
            await set.StartAllAsync(binaries, options, fixedPorts, cancellationToken);
            set.StartupTime = stopwatch.Elapsed;
            await set.WriteManifestAsync(cancellationToken);
            return set;
        }
        catch
        {
            await set.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Environment variables that describe the set to a process (used by <c>exec</c> and BookingHost):
    /// <c>ConnectionStrings__Metadata</c>, <c>ConnectionStrings__Shard1Primary</c>, <c>ConnectionStrings__Shard1Replica</c>,
    /// <c>ConnectionStrings__Shard2Primary</c>, <c>ConnectionStrings__Redis</c> (the first master) and
    /// <c>ConnectionStrings__RedisLockMasters</c> (all three, comma-separated), plus <c>SCALING_SERVERS_MANIFEST</c>.
    /// </summary>
    public IReadOnlyDictionary<string, string> EnvironmentVariables() => new Dictionary<string, string>
    {
        ["ConnectionStrings__Metadata"] = Metadata.ConnectionString(),
        ["ConnectionStrings__Shard1Primary"] = Shard1Primary.ConnectionString(),
        ["ConnectionStrings__Shard1Replica"] = Shard1Replica.ConnectionString(),
        ["ConnectionStrings__Shard2Primary"] = Shard2Primary.ConnectionString(),
        ["ConnectionStrings__Redis"] = Redis[0].EndPoint,
        ["ConnectionStrings__RedisLockMasters"] = string.Join(',', Redis.Select(r => r.EndPoint)),
        ["SCALING_SERVERS_MANIFEST"] = Path.Combine(RootDirectory, ManifestFileName),
    };

    /// <summary>
    /// Adds a process the caller started (e.g. an application under test, a proxy) to the set's watchdog: if this
    /// process dies without tearing the set down, the watchdog kills it with the servers. Stopping it normally is still
    /// the caller's job.
    /// </summary>
    public void TrackExternalProcess(int processId)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(processId);
        lock (_pidsLock)
        {
            _external.Add(processId);
        }

        WritePidsFile();
    }

    /// <summary>
    /// The set's Redis Cluster (see <see cref="RedisCluster"/>): started on the first call, <paramref name="masters"/> masters
    /// each with one replica, in the set's folder and under its watchdog, and returned as is by later calls. Only tests
    /// that need a cluster ask for one; the other servers never depend on it.
    /// </summary>
    /// <exception cref="TestServerException"><c>redis-cli</c> is missing, or the cluster did not form.</exception>
    public async Task<RedisCluster> StartRedisClusterAsync(int masters = 3, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(masters, 3);
        await _clusterGate.WaitAsync(cancellationToken);
        try
        {
            if (_cluster is not null)
            {
                return _cluster;
            }

            var binaries = _binaries ?? throw new InvalidOperationException("The set is not started.");
            var cli = binaries.RedisCli();
            var starts = Enumerable.Range(1, masters * 2).Select(i =>
            {
                int busPort;
                lock (_usedPorts)
                {
                    busPort = FreePorts.Next(_usedPorts);
                }

                return StartWithPortRetryAsync(
                    port => new RedisServer($"cluster-{i}", port, Path.Combine(RootDirectory, $"cluster-{i}"), binaries.RedisServer, _startTimeout, RedisCluster.NodeArguments(busPort)),
                    null,
                    _usedPorts,
                    cancellationToken);
            }).ToArray();
            var nodes = await Task.WhenAll(starts);
            var cluster = new RedisCluster(nodes, cli);
            await cluster.CreateAsync(replicasPerMaster: 1, cancellationToken);
            await WriteManifestAsync(cancellationToken);
            return _cluster = cluster;
        }
        finally
        {
            _clusterGate.Release();
        }
    }

    /// <summary>Kills every server, stops the watchdog and removes the temporary folder.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await Task.WhenAll(_all.Select(s => s.TearDownAsync()));
        _watchdog?.Stop();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                if (Directory.Exists(RootDirectory))
                {
                    Directory.Delete(RootDirectory, recursive: true);
                }

                break;
            }
            catch (IOException) when (attempt < 20)
            {
                // A server that just died may still be closing files.
                await Task.Delay(100);
            }
        }
    }

    private async Task StartAllAsync(ServerBinaries binaries, TestServerOptions options, int[]? fixedPorts, CancellationToken cancellationToken)
    {
        if (Posix.IsRoot)
        {
            // PostgreSQL refuses to run as root: its programs run as the postgres user, who owns the folder.
            await CommandRunner.RunAsync(["chown", CommandRunner.PostgresUser + ":", RootDirectory], TimeSpan.FromSeconds(30), cancellationToken);
        }

        _watchdog = Watchdog.Start(RootDirectory);
        _binaries = binaries;
        _startTimeout = options.ServerStartTimeout;
        var usedPorts = _usedPorts;
        var timeout = options.ServerStartTimeout;

        // Redis masters start while PostgreSQL initialises.
        var redisTasks = Enumerable.Range(1, 3).Select(i => StartWithPortRetryAsync(
            port => new RedisServer($"redis-{i}", port, Path.Combine(RootDirectory, $"redis-{i}"), binaries.RedisServer, timeout),
            fixedPorts?[i - 1], usedPorts, cancellationToken)).ToArray();

        try
        {
            var template = Path.Combine(RootDirectory, "pg-template");
            await PostgresServer.InitDbAsync(binaries, template, cancellationToken);
            var primaries = new (string Name, string Database, int Index)[]
            {
                ("metadata", PostgresServer.MetadataDatabase, 3),
                ("shard1-primary", PostgresServer.ShardDatabase, 4),
                ("shard2-primary", PostgresServer.ShardDatabase, 6),
            };
            foreach (var (name, _, _) in primaries)
            {
                await PostgresServer.CopyClusterAsync(template, Path.Combine(RootDirectory, name), cancellationToken);
            }

            Directory.Delete(template, recursive: true);
            var primaryTasks = primaries.Select(p => StartWithPortRetryAsync(
                port => new PostgresServer(p.Name, port, Path.Combine(RootDirectory, p.Name), p.Database, binaries, null, timeout),
                fixedPorts?[p.Index], usedPorts, cancellationToken)).ToArray();
            var started = await Task.WhenAll(primaryTasks);
            Metadata = started[0];
            Shard1Primary = started[1];
            Shard2Primary = started[2];
            await Task.WhenAll(
                Metadata.CreateDatabaseAsync(PostgresServer.MetadataDatabase, cancellationToken),
                Shard1Primary.CreateDatabaseAsync(PostgresServer.ShardDatabase, cancellationToken),
                Shard2Primary.CreateDatabaseAsync(PostgresServer.ShardDatabase, cancellationToken));

            var replicaDirectory = Path.Combine(RootDirectory, "shard1-replica");
            await PostgresServer.BaseBackupAsync(binaries, Shard1Primary, replicaDirectory, "shard1_replica", cancellationToken);
            Shard1Replica = await StartWithPortRetryAsync(
                port => new PostgresServer("shard1-replica", port, replicaDirectory, PostgresServer.ShardDatabase, binaries, Shard1Primary, timeout),
                fixedPorts?[5], usedPorts, cancellationToken);
        }
        catch
        {
            // Let the Redis starts finish before the caller tears the set down, so none starts after it.
            await Task.WhenAll(redisTasks).ContinueWith(static _ => { }, TaskScheduler.Default);
            throw;
        }

        Redis = await Task.WhenAll(redisTasks);
    }

    private async Task<T> StartWithPortRetryAsync<T>(Func<int, T> create, int? fixedPort, HashSet<int> usedPorts, CancellationToken cancellationToken)
        where T : ServerProcess
    {
        for (var attempt = 1; ; attempt++)
        {
            int port;
            lock (usedPorts)
            {
                port = fixedPort ?? FreePorts.Next(usedPorts);
            }

            var server = create(port);
            try
            {
                Track(server);
                await server.StartAsync(cancellationToken);
                return server;
            }
            catch (PortInUseException) when (fixedPort is null && attempt < MaxPortAttempts)
            {
                // Another process took the free port between our check and the server's bind: try another.
                Untrack(server);
            }
        }
    }

    private void Track(ServerProcess server)
    {
        lock (_pidsLock)
        {
            _all.Add(server);
        }

        server.ProcessesChanged += WritePidsFile;
    }

    private void Untrack(ServerProcess server)
    {
        server.ProcessesChanged -= WritePidsFile;
        lock (_pidsLock)
        {
            _all.Remove(server);
        }
    }

    private void WritePidsFile()
    {
        lock (_pidsLock)
        {
            if (_disposed != 0 || !Directory.Exists(RootDirectory))
            {
                return;
            }

            var pids = _all.SelectMany(s => s.TrackedProcessIds()).Concat(_external).Distinct()
                .Select(pid => pid.ToString(CultureInfo.InvariantCulture));
            var path = Path.Combine(RootDirectory, "pids");
            File.WriteAllLines(path + ".tmp", pids);
            File.Move(path + ".tmp", path, overwrite: true);
        }
    }

    private async Task WriteManifestAsync(CancellationToken cancellationToken)
    {
        var manifest = _all.ToDictionary(
            s => s.Name,
            s => new Dictionary<string, object>
            {
                ["host"] = s.Host,
                ["port"] = s.Port,
                ["connectionString"] = s is PostgresServer pg ? pg.ConnectionString() : ((RedisServer)s).EndPoint,
            });
        var path = Path.Combine(RootDirectory, ManifestFileName);
        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(manifest, IndentedJson), cancellationToken);
    }
}
