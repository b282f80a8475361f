using System.Net;
using System.Text.Json;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features.Authentication;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Scaling.Testing;

namespace Scaling.RateLimit.Tests;

/// <summary>The ASP.NET Core integration over the real Redis: partitions, tiers, headers, 429 responses.</summary>
[Collection(ServersCollection.Name)]
public sealed class HttpTests(ServersFixture fixture)
{
    private static readonly (string, string) Client1 = ("X-Test-Remote", "203.0.113.1");

    [Fact]
    public async Task Anonymous_clients_get_the_headers_on_every_response_and_a_problem_429_after_their_limit()
    {
        await using var app = await StartAsync(o => o.AnonymousTier = RateLimitTiers.Anonymous with { PermitLimit = 3 });

        for (var remaining = 2; remaining >= 0; remaining--)
        {
            using var ok = await app.GetAsync("/bookings", Client1);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            Assert.Equal("\"anonymous\";q=3;w=60", ok.Header("RateLimit-Policy"));
            Assert.Matches($"^\"anonymous\";r={remaining};t=([1-9]|[1-5][0-9]|60)$", ok.Header("RateLimit"));
            Assert.Null(ok.Header("Retry-After"));
        }

        using var rejected = await app.GetAsync("/bookings", Client1);

        Assert.Equal(HttpStatusCode.TooManyRequests, rejected.StatusCode);
        Assert.Equal("application/problem+json", rejected.Content.Headers.ContentType?.MediaType);
        Assert.InRange(long.Parse(rejected.Header("Retry-After")!, System.Globalization.CultureInfo.InvariantCulture), 1, 120);
        Assert.Equal("\"anonymous\";q=3;w=60", rejected.Header("RateLimit-Policy"));
        Assert.StartsWith("\"anonymous\";r=0;t=", rejected.Header("RateLimit"), StringComparison.Ordinal);
        using var problem = JsonDocument.Parse(await rejected.Content.ReadAsStringAsync());
        Assert.Equal(429, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Equal("Too Many Requests", problem.RootElement.GetProperty("title").GetString());
        Assert.Equal("anonymous", problem.RootElement.GetProperty("policy").GetString());

        using var otherClient = await app.GetAsync("/bookings", ("X-Test-Remote", "203.0.113.2"));
        Assert.Equal(HttpStatusCode.OK, otherClient.StatusCode);
    }

    [Fact]
    public async Task Users_get_their_tenants_plan_tier_and_a_tenant_quota_shared_by_the_tenants_users()
    {
        await using var app = await StartAsync(o =>
        {
            o.AuthenticatedTier = RateLimitTiers.Authenticated with { PermitLimit = 50 };
            o.Plans["business"] = new RateLimitPlan(new RateLimitTier("business", 100, TimeSpan.FromMinutes(1)))
            {
                TenantQuota = new RateLimitTier("tenant-daily", 3, TimeSpan.FromDays(1)),
            };
        });

        using var plain = await app.GetAsync("/x", ("X-Test-User", "plain"));
        Assert.Equal("\"authenticated\";q=50;w=60", plain.Header("RateLimit-Policy"));

        using var unknownPlan = await app.GetAsync("/x", ("X-Test-User", "u0"), ("X-Test-Tenant", "acme"), ("X-Test-Plan", "no-such-plan"));
        Assert.Equal("\"authenticated\";q=50;w=60", unknownPlan.Header("RateLimit-Policy"));

        // Only the resolved tenant counts: plan and tenant claims in the user's token are not read.
        using var claimsOnly = await app.GetAsync("/x", ("X-Test-User", "u1"), ("X-Test-Claim-Plan", "business"), ("X-Test-Claim-Tenant", "acme"));
        Assert.Equal("\"authenticated\";q=50;w=60", claimsOnly.Header("RateLimit-Policy"));

        // A tenant without a plan: the authenticated tier, no tenant quota.
        using var noPlan = await app.GetAsync("/x", ("X-Test-User", "u2"), ("X-Test-Tenant", "acme"));
        Assert.Equal("\"authenticated\";q=50;w=60", noPlan.Header("RateLimit-Policy"));

        (string, string)[] alice = [("X-Test-User", "alice"), ("X-Test-Plan", "Business"), ("X-Test-Tenant", "acme")];
        (string, string)[] bob = [("X-Test-User", "bob"), ("X-Test-Plan", "business"), ("X-Test-Tenant", "acme")];
        using var a1 = await app.GetAsync("/x", alice);
        Assert.Equal("\"business\";q=100;w=60, \"tenant-daily\";q=3;w=86400", a1.Header("RateLimit-Policy"));
        // The whole field: each policy's member, in the policies' order, separated by ", ".
        Assert.Matches("^\"business\";r=99;t=([1-9]|[1-5][0-9]|60), \"tenant-daily\";r=2;t=[1-9][0-9]{0,4}$", a1.Header("RateLimit"));
        using var a2 = await app.GetAsync("/x", alice);
        using var b1 = await app.GetAsync("/x", bob);
        Assert.Equal(HttpStatusCode.OK, b1.StatusCode);
        Assert.StartsWith("\"business\";r=99;t=", b1.Header("RateLimit"), StringComparison.Ordinal);

        using var b2 = await app.GetAsync("/x", bob);

        Assert.Equal(HttpStatusCode.TooManyRequests, b2.StatusCode);
        using var problem = JsonDocument.Parse(await b2.Content.ReadAsStringAsync());
        Assert.Equal("tenant-daily", problem.RootElement.GetProperty("policy").GetString());
        using var otherTenant = await app.GetAsync("/x", ("X-Test-User", "carol"), ("X-Test-Plan", "business"), ("X-Test-Tenant", "globex"));
        Assert.Equal(HttpStatusCode.OK, otherTenant.StatusCode);
    }

    [Fact]
    public async Task Endpoint_policies_and_the_burst_policy_apply_on_top_of_the_tier()
    {
        await using var app = await StartAsync(o =>
        {
            o.Burst = new RateLimitTier("burst", 50, TimeSpan.FromSeconds(1));
            o.EndpointPolicies["/search/"] = new RateLimitTier("search", 2, TimeSpan.FromMinutes(1));
        });

        using var s1 = await app.GetAsync("/Search/rooms", Client1);
        Assert.Equal("\"burst\";q=50;w=1, \"search\";q=2;w=60, \"anonymous\";q=100;w=60", s1.Header("RateLimit-Policy"));
        using var s2 = await app.GetAsync("/search", Client1);
        using var s3 = await app.GetAsync("/search/x", Client1);
        using var notSearch = await app.GetAsync("/searching", Client1);

        Assert.Equal(HttpStatusCode.OK, s2.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, s3.StatusCode);
        Assert.Equal(HttpStatusCode.OK, notSearch.StatusCode);
        Assert.Equal("\"burst\";q=50;w=1, \"anonymous\";q=100;w=60", notSearch.Header("RateLimit-Policy"));
        Assert.StartsWith("\"burst\";r=", notSearch.Header("RateLimit"), StringComparison.Ordinal);
        Assert.Contains("\"anonymous\";r=97;t=", notSearch.Header("RateLimit"), StringComparison.Ordinal); // s3 was rejected: not counted
    }

    [Fact]
    public async Task Forwarded_headers_count_only_from_trusted_proxies_and_garbage_stays_limited()
    {
        await using var app = await StartAsync(o =>
        {
            o.AnonymousTier = RateLimitTiers.Anonymous with { PermitLimit = 2 };
            o.TrustedProxies.Add("10.0.0.0/8");
            o.TrustedProxies.Add("192.0.2.1");
        });

        // An untrusted client rotating forged forwarded addresses is still counted by its own address.
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var forged = await app.GetAsync("/", ("X-Test-Remote", "198.51.100.9"), ("X-Forwarded-For", $"198.51.100.{100 + i}"));
            statuses.Add(forged.StatusCode);
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);

        // Through trusted proxies (two hops), each real client has its own allowance; a forged left part is ignored.
        for (var i = 0; i < 2; i++)
        {
            using var viaProxy = await app.GetAsync("/", ("X-Test-Remote", "10.1.2.3"), ("X-Forwarded-For", "6.6.6.6, 198.51.100.20, 192.0.2.1"));
            Assert.Equal(HttpStatusCode.OK, viaProxy.StatusCode);
        }

        using var thirdViaProxy = await app.GetAsync("/", ("X-Test-Remote", "10.1.2.3"), ("X-Forwarded-For", "7.7.7.7, 198.51.100.20"));
        Assert.Equal(HttpStatusCode.TooManyRequests, thirdViaProxy.StatusCode);
        using var otherViaProxy = await app.GetAsync("/", ("X-Test-Remote", "10.1.2.3"), ("X-Forwarded-For", "198.51.100.21"));
        Assert.Equal(HttpStatusCode.OK, otherViaProxy.StatusCode);

        // Garbage from a trusted proxy: counted by the proxy's address, in the anonymous tier.
        var garbage = new List<HttpStatusCode>();
        foreach (var value in new[] { "not-an-ip", "'; DROP TABLE", new string('9', 5_000), "1.2.3.4.5" })
        {
            using var response = await app.GetAsync("/", ("X-Test-Remote", "10.9.9.9"), ("X-Forwarded-For", value));
            Assert.Equal("\"anonymous\";q=2;w=60", response.Header("RateLimit-Policy"));
            garbage.Add(response.StatusCode);
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], garbage);
    }

    [Fact]
    public async Task IPv6_clients_are_counted_by_their_64_bit_prefix()
    {
        await using var app = await StartAsync(o => o.AnonymousTier = RateLimitTiers.Anonymous with { PermitLimit = 2 });

        using var first = await app.GetAsync("/", ("X-Test-Remote", "2001:db8:1:2::1"));
        using var second = await app.GetAsync("/", ("X-Test-Remote", "2001:db8:1:2:ffff::9"));
        using var third = await app.GetAsync("/", ("X-Test-Remote", "2001:db8:1:2:abcd::5"));
        using var otherPrefix = await app.GetAsync("/", ("X-Test-Remote", "2001:db8:1:3::1"));

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.Equal(HttpStatusCode.OK, otherPrefix.StatusCode);
    }

    [Fact]
    public async Task Missing_identity_and_invalid_api_keys_fall_into_the_anonymous_tier()
    {
        await using var app = await StartAsync(o =>
        {
            o.ApiKeyHeaderName = "X-Api-Key";
            o.ApiKeyValidator = key => key == "good-key";
        });

        using var noUserId = await app.GetAsync("/", Client1, ("X-Test-Authenticated", "yes"));
        using var badKey = await app.GetAsync("/", Client1, ("X-Api-Key", "made-up"));
        using var goodKey = await app.GetAsync("/", Client1, ("X-Api-Key", "good-key"));
        using var noAddress = await app.GetAsync("/");

        Assert.Equal("\"anonymous\";q=100;w=60", noUserId.Header("RateLimit-Policy"));
        Assert.Equal("\"anonymous\";q=100;w=60", badKey.Header("RateLimit-Policy"));
        Assert.Contains("r=98", badKey.Header("RateLimit"), StringComparison.Ordinal); // same client address as the first
        Assert.Equal("\"authenticated\";q=1000;w=60", goodKey.Header("RateLimit-Policy"));
        Assert.Equal("\"anonymous\";q=100;w=60", noAddress.Header("RateLimit-Policy"));
    }

    [Fact]
    public async Task Works_as_AspNetCores_global_limiter_with_retry_after_metadata()
    {
        await using var app = await StartAsync(o => o.AnonymousTier = RateLimitTiers.Anonymous with { PermitLimit = 2 }, useAspNetCoreRateLimiter: true);

        using var first = await app.GetAsync("/", Client1);
        using var second = await app.GetAsync("/", Client1);
        using var third = await app.GetAsync("/", Client1);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("\"anonymous\";q=2;w=60", first.Header("RateLimit-Policy"));
        Assert.StartsWith("\"anonymous\";r=1;t=", first.Header("RateLimit"), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.NotNull(third.Header("Retry-After"));
        Assert.Equal("application/problem+json", third.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("\"anonymous\";r=0;t=", third.Header("RateLimit"), StringComparison.Ordinal);

        var limiter = app.Services.GetRequiredService<RedisPartitionedRateLimiter>();
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse("203.0.113.1");
        Assert.False(limiter.AttemptAcquire(context).IsAcquired);
        using var lease = await limiter.AcquireAsync(context);
        Assert.False(lease.IsAcquired);
        Assert.True(lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
        Assert.InRange(retryAfter, TimeSpan.FromTicks(1), TimeSpan.FromSeconds(120));
        context.Connection.RemoteIpAddress = IPAddress.Parse("203.0.113.50");
        using var other = await limiter.AcquireAsync(context);
        Assert.True(other.IsAcquired);
        Assert.False(other.TryGetMetadata(MetadataName.RetryAfter, out _));

        // An anonymous request is not given an empty user to look at (HttpContext.User would make one: an allocation).
        Assert.Null(context.Features.Get<IHttpAuthenticationFeature>());
    }

    [Fact]
    public async Task Policies_change_at_run_time_and_an_invalid_change_is_ignored()
    {
        var limit = 2;
        var instances = 1;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection().Build();
        await using var app = await StartAsync(
            o =>
            {
                o.AnonymousTier = RateLimitTiers.Anonymous with { PermitLimit = limit };
                o.ExpectedInstanceCount = instances;
            },
            services => services.AddSingleton<IOptionsChangeTokenSource<ScalingRateLimitOptions>>(new ConfigurationChangeTokenSource<ScalingRateLimitOptions>(configuration)));

        // The three requests must fall into one window of the sliding-window counter: across a minute boundary the
        // previous window's two counts are weighted down (rounded), and the third request would rightly pass.
        if (DateTime.UtcNow.Second >= 50)
        {
            await Task.Delay(TimeSpan.FromSeconds(61 - DateTime.UtcNow.Second));
        }

        using var first = await app.GetAsync("/", Client1);
        using var second = await app.GetAsync("/", Client1);
        using var third = await app.GetAsync("/", Client1);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);

        limit = 5;
        configuration.Reload();
        using var afterRaise = await app.GetAsync("/", Client1);

        Assert.Equal(HttpStatusCode.OK, afterRaise.StatusCode);
        Assert.Equal("\"anonymous\";q=5;w=60", afterRaise.Header("RateLimit-Policy"));

        limit = 7;
        instances = 0; // invalid: the whole change is ignored
        try
        {
            configuration.Reload();
        }
        catch (AggregateException ex) when (ex.InnerException is OptionsValidationException)
        {
            // The options monitor re-validates eagerly and reports the failure to whoever reloaded; the app goes on.
        }

        using var afterInvalid = await app.GetAsync("/", Client1);
        Assert.Equal("\"anonymous\";q=5;w=60", afterInvalid.Header("RateLimit-Policy"));
    }

    private async Task<TestApp> StartAsync(Action<ScalingRateLimitOptions> configure, Action<IServiceCollection>? more = null, bool useAspNetCoreRateLimiter = false)
    {
        var prefix = "h" + Guid.NewGuid().ToString("N")[..8] + ":";
        return await TestApp.StartAsync(
            services =>
            {
                services.AddScalingRateLimit(o =>
                {
                    o.RedisConfiguration = fixture.Servers.Redis[0].EndPoint;
                    o.KeyPrefix = prefix;
                    o.RedisTimeout = TimeSpan.FromSeconds(5); // as RateLimitTestKit.Options: a slow CI check must not be decided locally
                    configure(o);
                });
                more?.Invoke(services);
            },
            useAspNetCoreRateLimiter);
    }

    private Task<TestApp> StartAsync(Action<ScalingRateLimitOptions> configure, bool useAspNetCoreRateLimiter) =>
        StartAsync(configure, null, useAspNetCoreRateLimiter);
}
