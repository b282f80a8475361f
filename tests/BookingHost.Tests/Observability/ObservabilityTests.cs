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
    public async Task Metrics_expose_every_scaling_meter_and_http_request_duration_in_prometheus_text()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var kit = await BusinessKit.CreateAsync(app, "shard-1");
        using var client = kit.Client(kit.Customer());
        using (var booked = await kit.BookAsync(client, BusinessKit.Tomorrow(11)))
        {
            Assert.Equal(HttpStatusCode.Created, booked.StatusCode);
        }

        await client.GetAsync("/api/v1/services");
        using var response = await app.CreateClient().GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("# TYPE http_server_request_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Matches("http_server_request_duration_seconds_bucket\\{.*le=\"\\+Inf\".*\\} [1-9]", text);
        Assert.Matches("(?m)^scaling_cache_[a-z_]+_total\\{.*\\} [1-9]", text);
        Assert.Matches("(?m)^scaling_data_[a-z_]+", text);
        Assert.Matches("(?m)^scaling_tenancy_map_loads_total\\{.*\\} [1-9]", text);
        Assert.Matches("(?m)^scaling_ratelimit_[a-z_]+", text);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')))
        {
            Assert.Matches("^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{[^}]*\\})? [-+0-9.eE]+$|^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{[^}]*\\})? (NaN|[+-]Inf)$", line);
        }
    }

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
