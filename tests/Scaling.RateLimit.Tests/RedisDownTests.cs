using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Scaling.Testing;

namespace Scaling.RateLimit.Tests;

/// <summary>Redis killed and restarted: per-policy failure modes behind the circuit breaker, metrics and logs, recovery.</summary>
[Collection(ServersCollection.Name)]
public sealed class RedisDownTests(ServersFixture fixture)
{
    [Fact]
    public async Task While_Redis_is_down_each_policy_applies_its_failure_mode_and_service_resumes_by_itself()
    {
        using var metrics = new MeasurementRecorder();
        var logger = new RecordingLogger();
        var options = RateLimitTestKit.Options(fixture.Servers, o =>
        {
            o.RedisTimeout = TimeSpan.FromMilliseconds(250); // the package's default
            o.BreakDuration = TimeSpan.FromMilliseconds(400);
            o.BreakerFailureThreshold = 3;
            o.ExpectedInstanceCount = 2;
        });
        await using var limiter = await RateLimitTestKit.Limiter(options, logger).WarmAsync();
        var open = new RateLimitCheck("u:open", "down-test").Add(RateLimitTestKit.Policy("fail-open", 1, 60, mode: RateLimitFailureMode.FailOpen));
        var closed = new RateLimitCheck("u:closed", "down-test").Add(RateLimitTestKit.Policy("fail-closed", 100, 60, mode: RateLimitFailureMode.FailClosed));
        var local = new RateLimitCheck("u:local", "down-test").Add(RateLimitTestKit.Policy("local", 10, 60, RateLimitAlgorithm.SlidingLog, RateLimitFailureMode.LocalFallback));
        Assert.True((await limiter.CheckAsync(open)).IsAllowed);
        Assert.False((await limiter.CheckAsync(open)).IsAllowed); // exhausted in Redis
        var redis = fixture.Servers.Redis[0];
        await redis.KillAsync();
        try
        {
            await Eventually.TrueAsync(async () => (await limiter.CheckAsync(closed)).IsDegraded && limiter.IsDegraded, TimeSpan.FromSeconds(10), "the breaker to open");
            Assert.Contains(logger.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("Rate limiting is degraded", StringComparison.Ordinal));

            var openDecision = await limiter.CheckAsync(open);
            Assert.True(openDecision.IsAllowed);
            Assert.True(openDecision.IsDegraded);
            Assert.Empty(openDecision.Policies);

            var closedDecision = await limiter.CheckAsync(closed);
            Assert.False(closedDecision.IsAllowed);
            Assert.Equal("fail-closed", closedDecision.RejectedBy);
            Assert.True(closedDecision.RetryAfter > TimeSpan.Zero);

            // LocalFallback: the limit divided by the expected instance count (10 / 2), in process.
            for (var i = 0; i < 5; i++)
            {
                var admitted = await limiter.CheckAsync(local);
                Assert.True(admitted.IsAllowed, $"local request {i + 1} of 5 rejected");
                Assert.True(admitted.IsDegraded);
            }

            var sixth = await limiter.CheckAsync(local);
            Assert.False(sixth.IsAllowed);
            Assert.Equal("local", sixth.RejectedBy);

            // While the breaker is open, checks do not go to Redis: at most one probe per break duration fails.
            var failuresBefore = CheckFailures(logger);
            var stopwatch = Stopwatch.StartNew();
            for (var i = 0; i < 500; i++)
            {
                await limiter.CheckAsync(closed);
            }

            var probes = (int)(stopwatch.Elapsed / options.BreakDuration) + 1;
            Assert.InRange(CheckFailures(logger) - failuresBefore, 0, probes);
            Assert.Contains(metrics.Measurements, m => m.Instrument == "scaling.ratelimit.degraded" && m.Value == 1);
            Assert.Contains(metrics.Measurements, m => m.Instrument == "scaling.ratelimit.decisions" && Equals(m.Tags["degraded"], true) && Equals(m.Tags["tier"], "down-test"));
        }
        finally
        {
            await redis.RestartAsync();
        }

        await Eventually.TrueAsync(async () => !(await limiter.CheckAsync(local)).IsDegraded, TimeSpan.FromSeconds(30), "checks on Redis again after the restart");
        Assert.False(limiter.IsDegraded);
        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Information && e.Message.Contains("back on Redis", StringComparison.Ordinal));
        var seen = metrics.Measurements;
        Assert.Contains(seen, m => m.Instrument == "scaling.ratelimit.degraded.time" && m.Value > 0);
        Assert.Contains(seen, m => m.Instrument == "scaling.ratelimit.check.duration" && Equals(m.Tags["store"], "local"));
        Assert.Contains(seen, m => m.Instrument == "scaling.ratelimit.check.duration" && Equals(m.Tags["store"], "none"));
    }

    [Fact]
    public async Task The_http_pipeline_keeps_limiting_locally_with_headers_while_Redis_is_down()
    {
        var prefix = "d" + Guid.NewGuid().ToString("N")[..8] + ":";
        await using var app = await TestApp.StartAsync(services => services.AddScalingRateLimit(o =>
        {
            o.RedisConfiguration = fixture.Servers.Redis[0].EndPoint;
            o.KeyPrefix = prefix;
            o.AnonymousTier = RateLimitTiers.Anonymous with { PermitLimit = 4 };
            o.ExpectedInstanceCount = 2;
            o.BreakDuration = TimeSpan.FromMilliseconds(300);
        }));
        (string, string) client = ("X-Test-Remote", "203.0.113.77");
        using var before = await app.GetAsync("/", client);
        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        var redis = fixture.Servers.Redis[0];
        await redis.KillAsync();
        try
        {
            var statuses = new List<HttpStatusCode>();
            for (var i = 0; i < 4; i++)
            {
                using var response = await app.GetAsync("/", client);
                statuses.Add(response.StatusCode);
                Assert.Equal("\"anonymous\";q=4;w=60", response.Header("RateLimit-Policy"));
                Assert.NotNull(response.Header("RateLimit"));
            }

            // Locally: 4 / 2 instances = 2 per window, whatever Redis had counted.
            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        }
        finally
        {
            await redis.RestartAsync();
        }

        // A new client each time: its first request leaves r=3 when counted in Redis (limit 4), r=1 when counted locally (limit 2).
        var poll = 0;
        await Eventually.TrueAsync(
            async () =>
            {
                using var response = await app.GetAsync("/", ("X-Test-Remote", $"198.51.100.{++poll % 250}"));
                return response.Header("RateLimit")?.StartsWith("\"anonymous\";r=3;", StringComparison.Ordinal) == true;
            },
            TimeSpan.FromSeconds(30),
            "requests counted in Redis again");
    }

    private static int CheckFailures(RecordingLogger logger) =>
        logger.Entries.Count(e => e.Message.StartsWith("Rate-limit check on Redis failed", StringComparison.Ordinal));
}
