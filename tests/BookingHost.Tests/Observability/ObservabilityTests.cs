using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using BookingHost.Tests.Domain;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Scaling.Testing;

namespace BookingHost.Tests.Observability;

[Collection(ServersCollection.Name)]
public sealed class ObservabilityTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task Metrics_on_prometheus_net_pass_promtool_and_count_what_the_requests_did_in_every_package()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var kit = await BusinessKit.CreateAsync(app, "shard-1");
        using var metricsClient = app.CreateClient();
        var before = await ScrapeAsync(metricsClient);

        using var client = kit.Client(kit.Customer());
        using (var booked = await kit.BookAsync(client, BusinessKit.Tomorrow(11)))
        {
            Assert.Equal(HttpStatusCode.Created, booked.StatusCode);
        }

        for (var i = 0; i < 3; i++)
        {
            using var services = await client.GetAsync("/api/v1/services");
            Assert.Equal(HttpStatusCode.OK, services.StatusCode);
        }

        using (var token = await client.PostAsJsonAsync("/api/v1/queues/front-desk/tokens", new { customerName = "Walk-in" }))
        {
            Assert.Equal(HttpStatusCode.Created, token.StatusCode);
        }

        using var staff = kit.Client(kit.StaffToken);
        using (var called = await staff.PostAsync("/api/v1/queues/front-desk/call-next", null))
        {
            Assert.Equal(HttpStatusCode.OK, called.StatusCode);
        }

        var after = await ScrapeAsync(metricsClient);

        // promtool's own checks of the exposition format and the naming conventions.
        var (exitCode, output) = await Promtool.RunAsync(["check", "metrics"], after.Text);
        Assert.True(exitCode == 0, $"promtool check metrics failed ({exitCode}):\n{output}");

        // HTTP (prometheus-net.AspNetCore): the three GETs of the services route, with their route and status.
        Assert.Equal("histogram", after.TypeOf("http_request_duration_seconds"));
        Assert.Equal(3, Delta(before, after, "http_request_duration_seconds_count", "endpoint=\"/api/v1/services\"", "method=\"GET\"", "code=\"200\""));
        Assert.Equal("counter", after.TypeOf("http_requests_received_total"));

        // Scaling.Cache: the second and third reads of the catalog are L1 hits.
        Assert.Equal("counter", after.TypeOf("scaling_cache_hits_total"));
        Assert.True(Delta(before, after, "scaling_cache_hits_total", "tier=\"l1\"") >= 2, "L1 hits did not grow by 2");

        // Scaling.Data: the booking's transaction is a timed command; the reads were routed.
        Assert.Equal("histogram", after.TypeOf("scaling_data_command_duration_seconds"));
        Assert.True(Delta(before, after, "scaling_data_command_duration_seconds_count") >= 1, "no command was timed");
        Assert.Equal("counter", after.TypeOf("scaling_data_reads_total"));

        // Scaling.Locks: call-next took the queue's lock once.
        Assert.Equal("counter", after.TypeOf("scaling_locks_attempts_total"));
        Assert.True(Delta(before, after, "scaling_locks_attempts_total", "status=\"acquired\"") >= 1, "no lock acquisition was counted");
        Assert.Equal("histogram", after.TypeOf("scaling_locks_acquire_duration_seconds"));

        // Scaling.RateLimit: one decision per API request (7 above), and the degraded gauge at 0.
        Assert.Equal("counter", after.TypeOf("scaling_ratelimit_decisions_total"));
        Assert.True(Delta(before, after, "scaling_ratelimit_decisions_total") >= 6, "rate-limit decisions did not grow by the requests made");
        Assert.Equal("gauge", after.TypeOf("scaling_ratelimit_degraded"));
        Assert.Equal(0, after.Sum("scaling_ratelimit_degraded"));

        // Scaling.Tenancy: this host loaded its shard map (at start, and for the new business).
        Assert.Equal("counter", after.TypeOf("scaling_tenancy_map_loads_total"));
        Assert.True(after.Sum("scaling_tenancy_map_loads_total") >= 1, "no shard map load was counted");

        // Process and runtime metrics, for the CPU and memory alerts.
        Assert.Equal("counter", after.TypeOf("process_cpu_seconds_total"));
        Assert.True(after.Sum("process_working_set_bytes") > 0);
        Assert.True(after.Sum("bookinghost_process_memory_limit_bytes") > 0, "no memory limit");
        Assert.Equal("gauge", after.TypeOf("dotnet_process_cpus"));
        Assert.Equal(Environment.ProcessorCount, after.Sum("dotnet_process_cpus"));
        Assert.Equal("counter", after.TypeOf("dotnet_gc_collections_total"));

        // Scaling.Cache's breaker gauge (the Redis circuit alert) reads 0 while Redis answers.
        Assert.Equal("gauge", after.TypeOf("scaling_cache_l2_degraded"));
        Assert.Equal(0, after.Sum("scaling_cache_l2_degraded"));

        // Every series BookingHost's Prometheus rules read is in the scrape (a renamed instrument breaks an alert here).
        var rules = await File.ReadAllTextAsync(Path.Combine(RepositoryFiles.PrometheusFolder, "booking-rules.yml"));
        var read = System.Text.RegularExpressions.Regex.Matches(rules, @"(?<![:\w])(?:http|process|dotnet|scaling|bookinghost)_[a-z0-9_]+(?![:\w])").Select(m => m.Value).Distinct().ToList();
        Assert.True(read.Count >= 10, $"only {read.Count} series found in the rules");
        Assert.All(read, series => Assert.True(after.Has(series), $"The rules read {series}, which the host does not publish."));
    }

    [Fact]
    public async Task The_http_series_keep_their_names_labels_and_buckets_and_count_each_request_once_with_its_route_and_final_status()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var kit = await BusinessKit.CreateAsync(app, "shard-1");
        using var metricsClient = app.CreateClient();
        var before = await ScrapeAsync(metricsClient);

        using var client = kit.Client(kit.Customer());
        using var anonymous = kit.Client(null);
        for (var i = 0; i < 2; i++)
        {
            using var services = await client.GetAsync("/api/v1/services");
            Assert.Equal(HttpStatusCode.OK, services.StatusCode);
        }

        using (var missing = await client.GetAsync($"/api/v1/bookings/{Guid.NewGuid()}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        using (var refused = await anonymous.GetAsync("/api/v1/bookings"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode); // answered before the endpoint runs
        }

        using (var unrouted = await client.GetAsync("/api/v1/no-such-route"))
        {
            Assert.Equal(HttpStatusCode.NotFound, unrouted.StatusCode);
        }

        var after = await ScrapeAsync(metricsClient);
        Assert.Contains("# HELP http_requests_received_total Provides the count of HTTP requests that have been processed by the ASP.NET Core pipeline.\n", after.Text, StringComparison.Ordinal);
        Assert.Contains("# HELP http_request_duration_seconds The duration of HTTP requests processed by an ASP.NET Core application.\n", after.Text, StringComparison.Ordinal);
        Assert.Contains("# HELP http_requests_in_progress The number of requests currently in progress in the ASP.NET Core pipeline. One series without controller/action label values counts all in-progress requests, with separate series existing for each controller-action pair.\n", after.Text, StringComparison.Ordinal);
        Assert.Equal("counter", after.TypeOf("http_requests_received_total"));
        Assert.Equal("histogram", after.TypeOf("http_request_duration_seconds"));
        Assert.Equal("gauge", after.TypeOf("http_requests_in_progress"));

        // Each request once, with its route (the pattern, or empty without one), method and final status.
        foreach (var (labels, count) in new[]
        {
            ("code=\"200\",method=\"GET\",controller=\"\",action=\"\",endpoint=\"/api/v1/services\"", 2),
            ("code=\"404\",method=\"GET\",controller=\"\",action=\"\",endpoint=\"/api/v1/bookings/{id:guid}\"", 1),
            ("code=\"401\",method=\"GET\",controller=\"\",action=\"\",endpoint=\"/api/v1/bookings\"", 1),
            ("code=\"404\",method=\"GET\",controller=\"\",action=\"\",endpoint=\"\"", 1),
        })
        {
            Assert.True(after.HasSample("http_requests_received_total", "{" + labels + "}"), $"no counter {{{labels}}}");
            Assert.Equal(count, Delta(before, after, "http_requests_received_total", labels));
            Assert.Equal(count, Delta(before, after, "http_request_duration_seconds_count", labels));
            Assert.Equal(count, Delta(before, after, "http_request_duration_seconds_bucket", labels + ",le=\"+Inf\""));
            var buckets = Enumerable.Range(0, 16).Select(i => 0.001 * Math.Pow(2, i))
                .Select(le => "{" + labels + ",le=\"" + le.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\"}");
            Assert.All(buckets, bucket => Assert.True(after.HasSample("http_request_duration_seconds_bucket", bucket), $"no bucket {bucket}"));
        }

        // Nothing is left in progress once the answers are out; the series carries the route known before the endpoint ran.
        Assert.True(after.HasSample("http_requests_in_progress", "{method=\"GET\",controller=\"\",action=\"\",endpoint=\"/api/v1/services\"}"));
        Assert.Equal(0, after.Sum("http_requests_in_progress", "endpoint=\"/api/v1/services\""));
    }

    [Fact]
    public async Task The_process_series_keep_their_names_and_count_this_processes_open_descriptors_and_threads()
    {
        // The test host runs the app in this process, so the series describe this process.
        await using var app = await BookingApp.StartAsync(Servers);
        using var client = app.CreateClient();
        var before = await ScrapeAsync(client);
        foreach (var (name, type) in new[]
        {
            ("process_cpu_seconds_total", "counter"), ("process_working_set_bytes", "gauge"), ("process_private_memory_bytes", "gauge"),
            ("process_virtual_memory_bytes", "gauge"), ("process_open_handles", "gauge"), ("process_num_threads", "gauge"),
            ("process_start_time_seconds", "gauge"), ("dotnet_total_memory_bytes", "gauge"), ("dotnet_collection_count_total", "counter"),
        })
        {
            Assert.Equal(type, before.TypeOf(name));
        }

        Assert.True(before.Sum("process_cpu_seconds_total") > 0);
        Assert.True(before.Sum("process_working_set_bytes") > 0);

        var files = Enumerable.Range(0, 100).Select(_ => File.OpenRead("/dev/null")).ToList();
        try
        {
            var during = await ScrapeAsync(client);
            Assert.InRange(during.Sum("process_open_handles") - before.Sum("process_open_handles"), 90, 130);
            using var process = System.Diagnostics.Process.GetCurrentProcess();
            Assert.InRange(during.Sum("process_open_handles"), process.HandleCount - 20, process.HandleCount + 20);
            Assert.InRange(during.Sum("process_num_threads"), process.Threads.Count - 10, process.Threads.Count + 10);
        }
        finally
        {
            files.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    public async Task Measurements_made_before_the_first_scrape_are_not_lost()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var kit = await BusinessKit.CreateAsync(app, "shard-2");
        using var client = kit.Client(kit.Customer());
        for (var i = 0; i < 4; i++)
        {
            using var response = await client.GetAsync("/api/v1/services");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // The first scrape of this host: every one of the four requests is there.
        var first = await ScrapeAsync(app.CreateClient());
        Assert.Equal(4, first.Sum("http_request_duration_seconds_count", "endpoint=\"/api/v1/services\"", "method=\"GET\""));
        Assert.True(first.Sum("scaling_cache_hits_total", "tier=\"l1\"") >= 3, "L1 hits recorded before the first scrape were lost");
    }

    [Fact]
    public async Task The_gauges_the_outage_alerts_read_follow_a_killed_redis_and_a_killed_replica()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var kit = await BusinessKit.CreateAsync(app, "shard-1");
        using var client = kit.Client(kit.Customer());
        using var metrics = app.CreateClient();
        Assert.Equal(0, (await ScrapeAsync(metrics)).Sum("scaling_cache_l2_degraded"));

        // Redis 1 (cache, rate limits) killed: the cache's and the rate limiter's degraded gauges go to 1 (requests keep
        // coming, so the rate limiter meets the failure), and back to 0 once it is restarted.
        var redis = Servers.Redis[0];
        await redis.KillAsync();
        try
        {
            await Eventually.TrueAsync(
                async () =>
                {
                    using var response = await client.GetAsync("/api/v1/services");
                    var scrape = await ScrapeAsync(metrics);
                    return scrape.Sum("scaling_cache_l2_degraded") == 1 && scrape.Sum("scaling_ratelimit_degraded") == 1;
                },
                TimeSpan.FromSeconds(30),
                "scaling_cache_l2_degraded and scaling_ratelimit_degraded at 1 with Redis killed");
        }
        finally
        {
            await redis.RestartAsync();
        }

        await Eventually.TrueAsync(
            async () =>
            {
                using var response = await client.GetAsync("/api/v1/services");
                var scrape = await ScrapeAsync(metrics);
                return scrape.Sum("scaling_cache_l2_degraded") == 0 && scrape.Sum("scaling_ratelimit_degraded") == 0;
            },
            TimeSpan.FromSeconds(60),
            "both degraded gauges back at 0 after Redis restarted");

        // Shard 1's replica killed: scaling_data_replica_healthy goes to 0 for it, and back to 1 after the restart.
        using (var ready = await metrics.GetAsync("/health/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode); // the readiness check now holds a pooled connection to the replica
        }

        var replica = Servers.Shard1Replica;
        await replica.KillAsync();
        try
        {
            await Eventually.TrueAsync(
                async () => (await ScrapeAsync(metrics)).Sum("scaling_data_replica_healthy") == 0,
                TimeSpan.FromSeconds(30),
                "scaling_data_replica_healthy at 0 for shard-1's replica while it is down");
        }
        finally
        {
            await replica.RestartAsync();
        }

        try
        {
            await Eventually.TrueAsync(
                async () => (await ScrapeAsync(metrics)).Sum("scaling_data_replica_healthy") == 1,
                TimeSpan.FromSeconds(60),
                "scaling_data_replica_healthy back at 1 after the replica restarted");
        }
        catch (Xunit.Sdk.XunitException e)
        {
            // Say why: the replica's lag as the host sees it, its readiness report, and the servers' own logs.
            var scrape = await ScrapeAsync(metrics);
            using var report = await metrics.GetAsync("/health/ready");
            throw new Xunit.Sdk.XunitException(
                $"{e.Message}; the host's replica series: {string.Join(" | ", scrape.Text.Split('\n').Where(l => l.StartsWith("scaling_data_replica", StringComparison.Ordinal)))}; " +
                $"/health/ready: {await report.Content.ReadAsStringAsync()}; replica log: {LogTail(replica.LogPath)}; primary log: {LogTail(Servers.Shard1Primary.LogPath)}");
        }

        // The readiness check's pooled connection died with the replica: the check must not report that as the server.
        using var readyAgain = await metrics.GetAsync("/health/ready");
        Assert.True(readyAgain.StatusCode == HttpStatusCode.OK, $"/health/ready answered {(int)readyAgain.StatusCode}: {await readyAgain.Content.ReadAsStringAsync()}");
    }

    private static string LogTail(string path)
    {
        var text = File.Exists(path) ? File.ReadAllText(path) : "(none)";
        return text.Length > 1500 ? text[^1500..] : text;
    }

    private static async Task<PrometheusText> ScrapeAsync(HttpClient client)
    {
        using var response = await client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        return new PrometheusText(await response.Content.ReadAsStringAsync());
    }

    private static double Delta(PrometheusText before, PrometheusText after, string name, params string[] labels)
        => after.Sum(name, labels) - before.Sum(name, labels);

    [Fact]
    public async Task Every_request_logs_one_line_in_a_scope_with_tenant_request_and_user_ids()
    {
        var provider = new ScopeCapturingProvider();
        await using var app = await BookingApp.StartAsync(Servers, configure: b => b
            .UseSetting("Logging:LogLevel:BookingHost.Requests", "Information")
            .ConfigureServices(s => s.AddSingleton<ILoggerProvider>(provider)));
        var kit = await BusinessKit.CreateAsync(app, "shard-2");
        var user = Guid.NewGuid();
        using var client = kit.Client(kit.Customer(user));
        using var response = await client.GetAsync("/api/v1/services");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var entry = Assert.Single(provider.Entries, e => e.Category == "BookingHost.Requests" && e.Message.StartsWith("GET /api/v1/services 200", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Information, entry.Level);
        Assert.Equal(kit.Tenant.Value, entry.Scope["TenantId"]);
        Assert.Equal(user.ToString(), entry.Scope["UserId"]);
        Assert.False(string.IsNullOrEmpty(entry.Scope["RequestId"] as string));
    }

    [Fact]
    public async Task Requests_refused_before_the_endpoint_are_logged_with_their_status_and_probes_only_at_debug()
    {
        var provider = new ScopeCapturingProvider();
        await using var app = await BookingApp.StartAsync(Servers, configure: b => b
            .UseSetting("Logging:LogLevel:BookingHost.Requests", "Debug")
            .ConfigureServices(s => s.AddSingleton<ILoggerProvider>(provider)));
        using var client = app.CreateClient();
        using var unknown = new HttpRequestMessage(HttpMethod.Get, "/api/v1/services");
        unknown.Headers.Add("X-Tenant", "no-such-business");
        using (var response = await client.SendAsync(unknown))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        using var malformed = new HttpRequestMessage(HttpMethod.Get, "/api/v1/services");
        malformed.Headers.Add("X-Tenant", "Not A Tenant!");
        using (var response = await client.SendAsync(malformed))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        using (var response = await client.GetAsync("/health/live"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var requests = provider.Entries.Where(e => e.Category == "BookingHost.Requests").ToList();
        var notFound = Assert.Single(requests, e => e.Message.StartsWith("GET /api/v1/services 404", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Information, notFound.Level);
        Assert.False(string.IsNullOrEmpty(notFound.Scope["RequestId"] as string));
        Assert.Equal(LogLevel.Information, Assert.Single(requests, e => e.Message.StartsWith("GET /api/v1/services 400", StringComparison.Ordinal)).Level);
        Assert.Equal(LogLevel.Debug, Assert.Single(requests, e => e.Message.StartsWith("GET /health/live 200", StringComparison.Ordinal)).Level);
    }

    private sealed class ScopeCapturingProvider : ILoggerProvider, ISupportExternalScope
    {
        private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

        public ConcurrentBag<(string Category, LogLevel Level, string Message, Dictionary<string, object?> Scope)> Entries { get; } = [];

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

        public void Dispose()
        {
        }

        private sealed class Logger(ScopeCapturingProvider provider, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => provider._scopes.Push(state);

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var scope = new Dictionary<string, object?>();
                provider._scopes.ForEachScope(
                    (s, d) =>
                    {
                        if (s is IEnumerable<KeyValuePair<string, object?>> pairs)
                        {
                            foreach (var (k, v) in pairs)
                            {
                                d[k] = v;
                            }
                        }
                    },
                    scope);
                provider.Entries.Add((category, logLevel, formatter(state, exception), scope));
            }
        }
    }
}
