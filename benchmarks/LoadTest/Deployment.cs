using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Scaling.Testing;

namespace Scaling.LoadTest;

/// <summary>The environment is missing something the load test needs (exit code 3).</summary>
internal sealed class EnvironmentException(string message) : Exception(message);

/// <summary>
/// What a run drives: the test servers (PostgreSQL shard 1 primary + replica, shard 2, metadata; three Redis masters),
/// <c>N</c> BookingHost processes and nginx in front of them, all on one loopback address. Disposing stops every
/// process it started and removes the servers.
/// </summary>
internal sealed class Deployment : IAsyncDisposable
{
    private readonly List<ChildProcess> _hosts = [];
    private ChildProcess? _nginx;

    private Deployment(TestServers servers, string repositoryRoot, string outputDirectory, IPAddress address)
    {
        Servers = servers;
        RepositoryRoot = repositoryRoot;
        OutputDirectory = outputDirectory;
        Address = address;
        SigningKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(48));
    }

    public TestServers Servers { get; }

    public string RepositoryRoot { get; }

    public string OutputDirectory { get; }

    public IPAddress Address { get; }

    /// <summary>The JWT signing key every instance shares (fresh per run).</summary>
    public string SigningKey { get; }

    /// <summary>The proxy's address: what the clients talk to.</summary>
    public Uri ProxyUri { get; private set; } = null!;

    /// <summary>Each instance's own address (for <c>/metrics</c>).</summary>
    public IReadOnlyList<Uri> HostUris { get; private set; } = [];

    public IReadOnlyList<ChildProcess> Hosts => _hosts;

    /// <summary>The shared Redis the hosts use, as their <c>ConnectionStrings:Redis</c>: one server, or the cluster's nodes.</summary>
    public string SharedRedis { get; private set; } = null!;

    public ChildProcess Nginx => _nginx!;

    /// <summary>The run's Prometheus, scraping every instance every 2 s with BookingHost's rules.</summary>
    public PrometheusServer Prometheus { get; private set; } = null!;

    /// <summary>Starts everything and returns once every instance is ready behind the proxy.</summary>
    public static async Task<Deployment> StartAsync(LoadTestOptions options, string outputDirectory, TextWriter log, CancellationToken cancellationToken)
    {
        var root = FindRepositoryRoot();
        var hostDll = Path.Combine(root, "samples/BookingHost/bin/Release/net10.0/BookingHost.dll");
        if (!File.Exists(hostDll))
        {
            throw new EnvironmentException($"BookingHost is not built ({hostDll} is missing): run 'dotnet build samples/BookingHost -c Release' (eng/load-test.sh does).");
        }

        var nginx = FindNginx();
        var files = OpenFileLimit();
        if (options.EventStreams + options.Clients + 1024 > files || options.EventStreams + options.Clients > NginxConfig.Capacity(files))
        {
            throw new EnvironmentException(
                $"{options.EventStreams} streams and {options.Clients} clients need more open files than this machine allows ({files} per process, 'ulimit -n'): "
                + "use fewer (--sse, --clients) or raise the limit.");
        }

        log.WriteLine("Starting PostgreSQL (shard 1 primary + replica, shard 2, metadata) and 3 Redis masters...");
        TestServers servers;
        try
        {
            servers = await TestServers.StartAsync(cancellationToken: cancellationToken);
        }
        catch (TestServerException ex)
        {
            throw new EnvironmentException(ex.Message);
        }

        if (options.RedisCluster)
        {
            log.WriteLine("Starting a Redis Cluster (3 masters, 1 replica each) for the shared Redis...");
            try
            {
                await servers.StartRedisClusterAsync(cancellationToken: cancellationToken);
            }
            catch (TestServerException ex)
            {
                await servers.DisposeAsync();
                throw new EnvironmentException(ex.Message);
            }
        }

        var deployment = new Deployment(servers, root, outputDirectory, options.Address);
        try
        {
            await deployment.StartHostsAsync(options, hostDll, log, cancellationToken);
            await deployment.StartNginxAsync(nginx, options, cancellationToken);
            deployment.Prometheus = await PrometheusServer.StartAsync(root, outputDirectory, deployment.Address, FreePort(deployment.Address), deployment.HostUris, cancellationToken);
            servers.TrackExternalProcess(deployment.Prometheus.Id);
            log.WriteLine($"Ready: {options.Instances} BookingHost instance(s) behind nginx at {deployment.ProxyUri}; Prometheus at {deployment.Prometheus.Uri}");
            return deployment;
        }
        catch
        {
            await deployment.DisposeAsync();
            throw;
        }
    }

    /// <summary>The processes whose CPU time the report shows, by group.</summary>
    public IReadOnlyList<(string Group, int ProcessId)> ProcessGroups()
    {
        var groups = new List<(string, int)> { ("load generator", Environment.ProcessId) };
        groups.AddRange(_hosts.Select(h => ("BookingHost", h.Id)));
        if (_nginx is not null)
        {
            groups.Add(("nginx", _nginx.Id));
        }

        foreach (var server in Servers.All)
        {
            if (server.ProcessId is { } pid)
            {
                groups.Add((server is PostgresServer ? "PostgreSQL" : "Redis", pid));
            }
        }

        return groups;
    }

    public async ValueTask DisposeAsync()
    {
        if (Prometheus is not null)
        {
            await Prometheus.DisposeAsync();
        }

        if (_nginx is not null)
        {
            await _nginx.DisposeAsync();
        }

        await Task.WhenAll(_hosts.Select(h => h.DisposeAsync().AsTask()));
        await Servers.DisposeAsync();
    }

    private async Task StartHostsAsync(LoadTestOptions options, string hostDll, TextWriter log, CancellationToken cancellationToken)
    {
        var lifetime = options.Warmup + options.Duration + TimeSpan.FromMinutes(30);
        var uris = new List<Uri>();
        for (var i = 0; i < options.Instances; i++)
        {
            var port = FreePort(Address);
            var uri = new Uri($"http://{Host(Address)}:{port}");
            var environment = new Dictionary<string, string>(Servers.EnvironmentVariables())
            {
                // The shared Redis: the first independent master, or the cluster (every node; the client finds the rest).
                ["ConnectionStrings__Redis"] = SharedRedis = options.RedisCluster ? (await Servers.StartRedisClusterAsync(cancellationToken: cancellationToken)).Configuration : Servers.Redis[0].EndPoint,
                ["BookingHost__Jwt__SigningKey"] = SigningKey,
                ["BookingHost__Jwt__AccessTokenLifetime"] = lifetime.ToString("c", CultureInfo.InvariantCulture),
                // Only the first instance seeds (the demo admin signs in to create the run's businesses).
                ["BookingHost__Seed"] = i == 0 ? "true" : "false",
                // Every client comes from one address and a few accounts: the limits are raised so that the checks run
                // (and cost what they cost) without refusing the load itself.
                ["BookingHost__AnonymousPerMinute"] = "100000000",
                ["BookingHost__AuthenticatedPerMinute"] = "100000000",
                ["BookingHost__PremiumPerMinute"] = "100000000",
                ["BookingHost__BasicBusinessPerDay"] = "1000000000",
                ["BookingHost__PremiumBusinessPerDay"] = "1000000000",
                ["Logging__LogLevel__Default"] = "Warning",
                ["DOTNET_NOLOGO"] = "1",
            };
            string[] command = ["dotnet", hostDll, "--urls", uri.ToString().TrimEnd('/'), "--contentRoot", Path.GetDirectoryName(hostDll)!];
            if (options.PinHosts)
            {
                // taskset execs the program: the process id is still the host's own.
                command = ["taskset", "-c", i.ToString(CultureInfo.InvariantCulture), .. command];
            }

            var host = ChildProcess.Start(
                $"bookinghost-{i + 1}",
                command[0],
                command[1..],
                environment,
                Path.Combine(OutputDirectory, $"bookinghost-{i + 1}.log"));
            _hosts.Add(host);
            Servers.TrackExternalProcess(host.Id);
            uris.Add(uri);
            if (i == 0)
            {
                // The first instance creates the schema and the demo data; the others then start against it.
                await WaitReadyAsync(host, uri, cancellationToken);
            }
        }

        HostUris = uris;
        for (var i = 1; i < _hosts.Count; i++)
        {
            await WaitReadyAsync(_hosts[i], uris[i], cancellationToken);
        }

        log.WriteLine($"BookingHost instances ready: {string.Join(", ", uris)}");
    }

    private async Task StartNginxAsync(string nginx, LoadTestOptions options, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(OutputDirectory, "nginx");
        Directory.CreateDirectory(directory);
        var port = FreePort(Address);
        var config = NginxConfig.Create(directory, Address, port, HostUris, options.EventStreams + options.Clients, OpenFileLimit());
        var path = Path.Combine(directory, "nginx.conf");
        await File.WriteAllTextAsync(path, config, cancellationToken);
        _nginx = ChildProcess.Start("nginx", nginx, ["-p", directory, "-c", path], new Dictionary<string, string>(), Path.Combine(OutputDirectory, "nginx.log"));
        Servers.TrackExternalProcess(_nginx.Id);
        ProxyUri = new Uri($"http://{Host(Address)}:{port}");
        await WaitReadyAsync(_nginx, ProxyUri, cancellationToken);
        foreach (var worker in ChildrenOf(_nginx.Id))
        {
            Servers.TrackExternalProcess(worker);
        }
    }

    private static async Task WaitReadyAsync(ChildProcess process, Uri uri, CancellationToken cancellationToken)
    {
        using var client = new HttpClient { BaseAddress = uri, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{process.Name} exited while starting; the end of {process.LogPath}:\n{process.Tail()}");
            }

            try
            {
                using var response = await client.GetAsync("/health/ready", cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Slow to answer while starting.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"{process.Name} was not ready at {uri}health/ready within 3 minutes; the end of {process.LogPath}:\n{process.Tail()}");
            }

            await Task.Delay(250, cancellationToken);
        }
    }

    internal static string FindRepositoryRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Scaling.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new EnvironmentException("Could not find the repository (Scaling.sln) above the current folder or the load test's own folder.");
    }

    private static string FindNginx()
    {
        foreach (var candidate in new[] { "/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx" })
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new EnvironmentException("nginx is not installed: 'apt-get install -y nginx-light' (eng/load-test.sh installs it when missing).");
    }

    /// <summary>This process's open-file limit (what nginx and the instances inherit), from <c>/proc/self/limits</c>.</summary>
    public static long OpenFileLimit()
    {
        var line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        var fields = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields is { Length: > 0 } && long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var soft) ? soft : 65536;
    }

    internal static int FreePort(IPAddress address)
    {
        using var listener = new TcpListener(address, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Host(IPAddress address)
        => address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();

    /// <summary>The child processes of <paramref name="pid"/> (nginx's workers).</summary>
    internal static IEnumerable<int> ChildrenOf(int pid)
    {
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            var children = Path.Combine(task, "children");
            if (!File.Exists(children))
            {
                continue;
            }

            foreach (var child in File.ReadAllText(children).Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                yield return int.Parse(child, CultureInfo.InvariantCulture);
            }
        }
    }
}
