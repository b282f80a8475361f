using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Scaling.Tenancy.Resolution;

namespace Scaling.Tenancy.Tests.Resolution;

/// <summary>
/// A minimal ASP.NET Core app on TestServer with tenant resolution, an in-memory <see cref="ITenantLookup"/> (tenants
/// <c>acme</c> and <c>globex</c>), a counting tenant context accessor, captured logs, and optionally JWT bearer
/// authentication with a symmetric key. Endpoints answer <c>current|feature|source</c>.
/// </summary>
internal sealed class ResolutionTestApp : IAsyncDisposable
{
    public const string Issuer = "https://issuer.test";
    public const string Audience = "scaling-tests";

    public static readonly SymmetricSecurityKey SigningKey = new(Encoding.UTF8.GetBytes("a-test-signing-key-of-at-least-256-bits-0123456789"));

    private readonly WebApplication _app;
    private int _endpointRuns;

    private ResolutionTestApp(WebApplication app, InMemoryTenantLookup lookup, CountingTenantContextAccessor accessor, CapturingLoggerProvider logs)
    {
        _app = app;
        Lookup = lookup;
        Accessor = accessor;
        Logs = logs;
    }

    public HttpClient Client { get; private set; } = null!;

    public InMemoryTenantLookup Lookup { get; }

    public CountingTenantContextAccessor Accessor { get; }

    public CapturingLoggerProvider Logs { get; }

    /// <summary>What <see cref="ITenantContextAccessor.Current"/> was in the outermost middleware once the rest of the pipeline had returned.</summary>
    public ConcurrentQueue<TenantInfo?> CurrentAfterPipeline { get; } = new();

    public int EndpointRuns => Volatile.Read(ref _endpointRuns);

    public static async Task<ResolutionTestApp> StartAsync(
        Action<TenantResolutionOptions> configure,
        bool jwt = false,
        Action<WebApplication>? map = null)
    {
        var lookup = new InMemoryTenantLookup("acme", "globex");
        var accessor = new CountingTenantContextAccessor();
        var logs = new CapturingLoggerProvider();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Services.AddSingleton<ITenantLookup>(lookup);
        builder.Services.AddSingleton<ITenantContextAccessor>(accessor);
        builder.Services.AddScalingTenantResolution(configure);
        if (jwt)
        {
            builder.Services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer(o =>
            {
                o.MapInboundClaims = false;
                o.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = Issuer,
                    ValidAudience = Audience,
                    IssuerSigningKey = SigningKey,
                    ClockSkew = TimeSpan.Zero,
                };
            });
        }

        var app = builder.Build();
        ResolutionTestApp? testApp = null;
        app.Use(async (context, next) =>
        {
            await next(context);
            testApp!.CurrentAfterPipeline.Enqueue(accessor.Current);
        });
        if (jwt)
        {
            app.UseAuthentication();
        }

        app.UseScalingTenantResolution();

        app.MapGet("/whoami", Describe);
        app.MapGet("/required", Describe).RequireTenant();
        app.MapGet("/t/{tenant}/whoami", Describe);
        app.MapGet("/throw/unavailable/{milliseconds:int}", (int milliseconds, ITenantContextAccessor tenants) =>
        {
            testApp!.CountRun();
            throw new TenantUnavailableException(
                tenants.Current?.Id ?? TenantId.Parse("acme"),
                TenantUnavailableReason.ReadOnly,
                TimeSpan.FromMilliseconds(milliseconds),
                "Tenant 'acme' is read-only during the final catch-up of its move to shard-2 (10.0.0.12:5432).");
        });
        app.MapGet("/throw/not-found", () =>
        {
            testApp!.CountRun();
            throw new TenantNotFoundException(TenantId.Parse("initech"));
        });
        app.MapGet("/throw/after-start", async (HttpContext context) =>
        {
            testApp!.CountRun();
            await context.Response.WriteAsync("partial");
            await context.Response.Body.FlushAsync();
            throw new TenantUnavailableException(TenantId.Parse("acme"), TenantUnavailableReason.ShardUnavailable, TimeSpan.FromSeconds(1), "shard down");
        });
        map?.Invoke(app);

        testApp = new ResolutionTestApp(app, lookup, accessor, logs);
        await app.StartAsync();
        testApp.Client = app.GetTestClient();
        return testApp;

        string Describe(HttpContext context, ITenantContextAccessor tenants)
        {
            testApp!.CountRun();
            return $"{tenants.Current?.Id.Value ?? "-"}|{context.GetTenant()?.Id.Value ?? "-"}|{context.Features.Get<ITenantFeature>()?.Source ?? "-"}";
        }
    }

    public static string CreateToken(IDictionary<string, object> claims, SecurityKey? key = null)
    {
        var handler = new JsonWebTokenHandler();
        return handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            Claims = claims,
            Subject = new ClaimsIdentity([new Claim("sub", "user-1")]),
            Expires = DateTime.UtcNow.AddMinutes(5),
            SigningCredentials = new SigningCredentials(key ?? SigningKey, SecurityAlgorithms.HmacSha256),
        });
    }

    public async Task<HttpResponseMessage> GetAsync(string path, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        foreach (var (name, value) in headers)
        {
            if (string.Equals(name, "Host", StringComparison.OrdinalIgnoreCase))
            {
                request.Headers.Host = value;
            }
            else
            {
                Assert.True(request.Headers.TryAddWithoutValidation(name, value));
            }
        }

        return await Client.SendAsync(request);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private void CountRun() => Interlocked.Increment(ref _endpointRuns);
}

/// <summary>An in-memory <see cref="ITenantLookup"/> (a test implementation of the lookup interface the shard map implements).</summary>
internal sealed class InMemoryTenantLookup : ITenantLookup
{
    private readonly ConcurrentDictionary<TenantId, TenantInfo> _tenants = new();
    private int _calls;

    public InMemoryTenantLookup(params string[] ids)
    {
        foreach (var id in ids)
        {
            var tenantId = TenantId.Parse(id);
            _tenants[tenantId] = new TenantInfo(tenantId, "premium", "shard-1");
        }
    }

    public int Calls => Volatile.Read(ref _calls);

    public ValueTask<TenantInfo?> FindAsync(TenantId tenantId, CancellationToken cancellationToken = default)
    {
        Assert.NotEqual(default, tenantId);
        Interlocked.Increment(ref _calls);
        return new ValueTask<TenantInfo?>(_tenants.TryGetValue(tenantId, out var tenant) ? tenant : null);
    }
}

/// <summary>The real <see cref="TenantContextAccessor"/>, counting the scopes begun.</summary>
internal sealed class CountingTenantContextAccessor : ITenantContextAccessor
{
    private readonly TenantContextAccessor _inner = new();
    private int _scopes;
    private int _ended;

    public int ScopesBegun => Volatile.Read(ref _scopes);

    public int ScopesEnded => Volatile.Read(ref _ended);

    public TenantInfo? Current => _inner.Current;

    public IDisposable BeginScope(TenantInfo tenant)
    {
        Interlocked.Increment(ref _scopes);
        return new Scope(this, _inner.BeginScope(tenant));
    }

    private sealed class Scope(CountingTenantContextAccessor owner, IDisposable inner) : IDisposable
    {
        public void Dispose()
        {
            inner.Dispose();
            Interlocked.Increment(ref owner._ended);
        }
    }
}

/// <summary>Keeps every formatted log message.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<(string Category, LogLevel Level, string Message)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(this, categoryName);

    public void Dispose()
    {
    }

    public IEnumerable<string> MessagesOf(string categoryPrefix) =>
        Entries.Where(e => e.Category.StartsWith(categoryPrefix, StringComparison.Ordinal)).Select(e => e.Message);

    private sealed class CapturingLogger(CapturingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            provider.Entries.Enqueue((category, logLevel, formatter(state, exception)));
    }
}

internal static class ProblemAssert
{
    /// <summary>Asserts an <c>application/problem+json</c> response with the status and code; returns its JSON.</summary>
    public static async Task<System.Text.Json.JsonElement> IsProblemAsync(HttpResponseMessage response, int status, string code)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == (int)response.StatusCode, $"Expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var document = System.Text.Json.JsonDocument.Parse(body);
        var root = document.RootElement.Clone();
        Assert.Equal(status, root.GetProperty("status").GetInt32());
        Assert.Equal(code, root.GetProperty("code").GetString());
        Assert.StartsWith("https://www.rfc-editor.org/rfc/rfc9110#section-", root.GetProperty("type").GetString(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(root.GetProperty("title").GetString()));
        Assert.False(string.IsNullOrEmpty(root.GetProperty("detail").GetString()));
        return root;
    }

    public static string? Tenant(this System.Text.Json.JsonElement problem) =>
        problem.TryGetProperty("tenant", out var tenant) ? tenant.GetString() : null;
}
