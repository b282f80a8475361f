using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Scaling.RateLimit.Tests;

/// <summary>
/// A minimal ASP.NET Core app on TestServer with the rate limiter. Test headers set the connection's remote
/// address (<c>X-Test-Remote</c>) and the authenticated user's claims (<c>X-Test-User</c>; <c>X-Test-Authenticated</c>
/// for a user without an id; <c>X-Test-Claim-Plan</c> and <c>X-Test-Claim-Tenant</c>, which the limiter must ignore), as
/// an authentication handler would; and the request's tenant and its plan (<c>X-Test-Tenant</c>, <c>X-Test-Plan</c>), as
/// tenant resolution would, given to the limiter by <see cref="ScalingRateLimitOptions.TenantResolver"/>.
/// </summary>
internal sealed class TestApp : IAsyncDisposable
{
    private const string TenantItem = "test-tenant";

    private readonly WebApplication _app;

    private TestApp(WebApplication app)
    {
        _app = app;
        Client = app.GetTestClient();
    }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<TestApp> StartAsync(Action<IServiceCollection> services, bool useAspNetCoreRateLimiter = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        services(builder.Services);
        builder.Services.PostConfigure<ScalingRateLimitOptions>(o => o.TenantResolver ??= static context =>
            context.Items.TryGetValue(TenantItem, out var tenant) ? (RateLimitTenant?)tenant : null);
        if (useAspNetCoreRateLimiter)
        {
            builder.Services.AddScalingGlobalRateLimiter();
        }

        var app = builder.Build();
        app.Use(static (context, next) =>
        {
            if (context.Request.Headers["X-Test-Remote"] is [{ } remote])
            {
                context.Connection.RemoteIpAddress = IPAddress.Parse(remote);
            }

            var claims = new List<Claim>();
            Add(context, claims, "X-Test-User", ClaimTypes.NameIdentifier);
            Add(context, claims, "X-Test-Claim-Plan", "plan");
            Add(context, claims, "X-Test-Claim-Tenant", "tenant");
            if (context.Request.Headers["X-Test-Tenant"] is [{ } tenant])
            {
                context.Items[TenantItem] = new RateLimitTenant(tenant, context.Request.Headers["X-Test-Plan"] is [{ } plan] ? plan : null);
            }
            if (claims.Count > 0 || context.Request.Headers.ContainsKey("X-Test-Authenticated"))
            {
                context.User = new ClaimsPrincipal(new ClaimsIdentity(claims, "test"));
            }

            return next(context);
        });
        if (useAspNetCoreRateLimiter)
        {
            app.UseScalingRateLimitHeaders();
            app.UseRateLimiter();
        }
        else
        {
            app.UseScalingRateLimit();
        }

        app.MapGet("/{**path}", (HttpContext context) => "ok " + context.Request.Path);
        await app.StartAsync();
        return new TestApp(app);
    }

    public async Task<HttpResponseMessage> GetAsync(string path, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return await Client.SendAsync(request);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static void Add(HttpContext context, List<Claim> claims, string header, string type)
    {
        if (context.Request.Headers[header] is [{ } value])
        {
            claims.Add(new Claim(type, value));
        }
    }
}

internal static class HttpResponseMessageExtensions
{
    public static string? Header(this HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(", ", values) : null;
}
