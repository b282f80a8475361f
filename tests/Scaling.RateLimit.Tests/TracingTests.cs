using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Scaling.Testing;

namespace Scaling.RateLimit.Tests;

/// <summary>The spans of the <c>Scaling.RateLimit</c> activity source: one per check, with its policies and decision.</summary>
[Collection(ServersCollection.Name)]
public sealed class TracingTests(ServersFixture fixture)
{
    [Fact]
    public async Task A_check_of_three_policies_is_traced_with_their_names_and_the_decision()
    {
        using var spans = new ActivityRecorder("Scaling.RateLimit");
        await using var limiter = await RateLimitTestKit.Limiter(RateLimitTestKit.Options(fixture.Servers)).WarmAsync();
        var check = new RateLimitCheck("u:traced", "premium")
            .Add(RateLimitTestKit.Policy("burst", 10, 1))
            .Add(RateLimitTestKit.Policy("tier", 100, 60))
            .Add(RateLimitTestKit.Policy("tight", 1, 60), "t:acme");

        using var trace = ActivityRecorder.StartTrace();
        var admitted = await limiter.CheckAsync(check);
        Assert.False(admitted.IsDegraded, "the first check was decided without Redis");
        Assert.True(admitted.IsAllowed);
        var rejected = await limiter.CheckAsync(check);
        Assert.False(rejected.IsDegraded, "the second check was decided without Redis");
        Assert.False(rejected.IsAllowed);

        var checks = spans.InTrace(trace, "rate limit check");
        Assert.Equal(2, checks.Count);
        Assert.All(checks, span =>
        {
            Assert.Equal(ActivityKind.Internal, span.Kind);
            Assert.Equal(trace.SpanId, span.ParentSpanId);
            Assert.Equal(new[] { "burst", "tier", "tight" }, Assert.IsType<string[]>(span.GetTagItem("scaling.ratelimit.policies")));
            Assert.Equal("premium", span.GetTagItem("scaling.ratelimit.tier"));
            Assert.Equal(1, span.GetTagItem("scaling.ratelimit.permits"));
            Assert.Equal(false, span.GetTagItem("scaling.ratelimit.degraded"));
            Assert.Equal("redis", span.GetTagItem("scaling.ratelimit.store"));
            Assert.Equal(ActivityStatusCode.Unset, span.Status); // a rejection is a decision, not an error
            Assert.Empty(span.Events);
        });
        Assert.Equal("allowed", checks[0].GetTagItem("scaling.ratelimit.decision"));
        Assert.Null(checks[0].GetTagItem("scaling.ratelimit.rejected_by"));
        Assert.Equal("rejected", checks[1].GetTagItem("scaling.ratelimit.decision"));
        Assert.Equal("tight", checks[1].GetTagItem("scaling.ratelimit.rejected_by"));
        Assert.Equal(rejected.RetryAfter.TotalSeconds, checks[1].GetTagItem("scaling.ratelimit.retry_after"));
        Assert.DoesNotContain(checks.SelectMany(s => s.TagObjects), t => t.Value is string text && text.Contains("u:traced", StringComparison.Ordinal)); // who is counted is not tagged
    }

    [Fact]
    public async Task Checks_while_Redis_is_unreachable_are_traced_as_degraded_with_the_failure_as_an_event()
    {
        using var spans = new ActivityRecorder("Scaling.RateLimit");
        var options = RateLimitTestKit.Options(fixture.Servers, o =>
        {
            o.RedisConfiguration = $"127.0.0.1:{ClosedPort()},connectTimeout=200,abortConnect=false";
            o.RedisTimeout = TimeSpan.FromMilliseconds(100);
            o.BreakerFailureThreshold = 1;
            o.BreakDuration = TimeSpan.FromSeconds(30);
        });
        await using var limiter = RateLimitTestKit.Limiter(options);
        var open = new RateLimitCheck("u:degraded", "anonymous").Add(RateLimitTestKit.Policy("open", 5, 60, mode: RateLimitFailureMode.FailOpen));
        var local = new RateLimitCheck("u:degraded", "anonymous").Add(RateLimitTestKit.Policy("local", 5, 60, mode: RateLimitFailureMode.LocalFallback));

        using var trace = ActivityRecorder.StartTrace();
        var first = await limiter.CheckAsync(open);
        Assert.True(first.IsDegraded);
        Assert.True(limiter.IsDegraded);
        var second = await limiter.CheckAsync(local);
        Assert.True(second.IsAllowed);

        var checks = spans.InTrace(trace, "rate limit check");
        Assert.Equal(2, checks.Count);
        Assert.All(checks, span =>
        {
            Assert.Equal(true, span.GetTagItem("scaling.ratelimit.degraded"));
            Assert.Equal("allowed", span.GetTagItem("scaling.ratelimit.decision"));
            Assert.Equal(ActivityStatusCode.Unset, span.Status);
        });

        // The first check tried Redis and failed; the second found the breaker open and did not try.
        var failure = Assert.Single(checks[0].Events);
        Assert.Equal("redis failed", failure.Name);
        Assert.NotNull(failure.Tags.Single(t => t.Key == "error.type").Value);
        Assert.Equal("none", checks[0].GetTagItem("scaling.ratelimit.store"));
        Assert.Empty(checks[1].Events);
        Assert.Equal("local", checks[1].GetTagItem("scaling.ratelimit.store"));
        Assert.Equal(new[] { "local" }, checks[1].GetTagItem("scaling.ratelimit.policies"));
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
