using BookingHost.Auth;
using BookingHost.Domain;
using BookingHost.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;
using Scaling.Testing;

namespace BookingHost.Tests;

/// <summary>
/// One BookingHost instance, in process, against the test servers. Instances created with the same
/// <see cref="Cluster"/> share one shard map (one "deployment"): create two to test cross-instance behaviour.
/// </summary>
public sealed class BookingApp : WebApplicationFactory<Program>
{
    /// <summary>The JWT signing key every test instance shares.</summary>
    public const string SigningKey = "booking-host-tests-signing-key-0123456789abcdef";

    private readonly TestServers _servers;
    private readonly Action<IWebHostBuilder>? _configure;

    public BookingApp(TestServers servers, string cluster, Action<IWebHostBuilder>? configure = null)
    {
        _servers = servers;
        Cluster = cluster;
        _configure = configure;
    }

    /// <summary>What the instance logged at Error level or above (to explain a 500 in an assertion message).</summary>
    public ErrorLog Errors { get; } = new();

    /// <summary>The shard map schema of this deployment.</summary>
    public string Cluster { get; }

    /// <summary>A new deployment name (its own shard map).</summary>
    public static string NewCluster() => "bh_" + Guid.NewGuid().ToString("N")[..10];

    /// <summary>Starts an instance and waits until its schema is in place.</summary>
    public static async Task<BookingApp> StartAsync(TestServers servers, string? cluster = null, Action<IWebHostBuilder>? configure = null)
    {
        var app = new BookingApp(servers, cluster ?? NewCluster(), configure);
        _ = app.Server;
        await app.Services.GetRequiredService<DatabaseSetupService>().Ready;
        return app;
    }

    public ShardRouter Router => Services.GetRequiredService<ShardRouter>();

    /// <summary>Creates a business (tenant + business row) with a random id.</summary>
    public async Task<TenantId> CreateBusinessAsync(string? shard = null, string plan = "basic", string prefix = "biz")
    {
        var tenant = TenantId.Parse(prefix + "-" + Guid.NewGuid().ToString("N")[..10]);
        await Services.GetRequiredService<BusinessDirectory>().CreateAsync(tenant, "Test " + tenant, plan, shard, "UTC", CancellationToken.None);
        return tenant;
    }

    /// <summary>A signed access token for a user (bypassing login, for tests of other areas).</summary>
    public string Token(string role, TenantId? tenant = null, Guid? userId = null, string? plan = null)
        => Services.GetRequiredService<AccessTokenIssuer>().Issue(userId ?? Guid.NewGuid(), role, tenant?.Value, plan).Token;

    /// <summary>A client for a business: the tenant header and, when given, a bearer token.</summary>
    public HttpClient ClientFor(TenantId? tenant, string? token = null)
    {
        var client = CreateClient();
        if (tenant is { } t)
        {
            client.DefaultRequestHeaders.Add("X-Tenant", t.Value);
        }

        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (name, value) in _servers.EnvironmentVariables())
        {
            builder.UseSetting(name.Replace("__", ":", StringComparison.Ordinal), value);
        }

        builder.UseSetting("BookingHost:MetadataSchema", Cluster);
        builder.UseSetting("BookingHost:Jwt:SigningKey", SigningKey);
        builder.UseSetting("BookingHost:Seed", "false");
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
        builder.UseSetting("BookingHost:JsonLogs", "false");
        builder.UseSetting("BookingHost:RateLimitKeyPrefix", $"rl:{Cluster}:");
        builder.ConfigureLogging(logging => logging.ClearProviders());
        builder.ConfigureServices(services => services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(Errors));
        builder.UseSetting("BookingHost:AnonymousPerMinute", "1000000");
        builder.UseSetting("BookingHost:AuthenticatedPerMinute", "1000000");
        builder.UseSetting("BookingHost:PremiumPerMinute", "1000000");
        builder.UseSetting("BookingHost:BasicBusinessPerDay", "100000000");
        builder.UseSetting("BookingHost:PremiumBusinessPerDay", "100000000");
        _configure?.Invoke(builder);
    }
}

/// <summary>Collects Error-level log entries of an instance.</summary>
public sealed class ErrorLog : Microsoft.Extensions.Logging.ILoggerProvider, Microsoft.Extensions.Logging.ILogger
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _entries = new();

    /// <summary>The entries so far, one per line (at most the first 5).</summary>
    public override string ToString() => string.Join("\n", _entries.Take(5));

    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= Microsoft.Extensions.Logging.LogLevel.Error;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            _entries.Enqueue(formatter(state, exception) + " " + exception?.GetType().Name + ": " + exception?.Message);
        }
    }

    public void Dispose()
    {
    }
}
