using Scaling.Testing;

namespace Scaling.RateLimit.Tests;

[Collection(ServersCollection.Name)]
public sealed class MetricsTests(ServersFixture fixture)
{
    [Fact]
    public async Task Decisions_are_counted_by_outcome_tier_and_rejecting_policy_and_checks_are_timed()
    {
        using var metrics = new MeasurementRecorder();
        await using var limiter = await RateLimitTestKit.Limiter(RateLimitTestKit.Options(fixture.Servers)).WarmAsync();
        var check = new RateLimitCheck("u:metrics", "metrics-tier")
            .Add(RateLimitTestKit.Policy("roomy", 100, 60))
            .Add(RateLimitTestKit.Policy("tight", 2, 60));

        for (var i = 0; i < 5; i++)
        {
            await limiter.CheckAsync(check);
        }

        var decisions = metrics.Measurements.Where(m => m.Instrument == "scaling.ratelimit.decisions" && Equals(m.Tags["tier"], "metrics-tier")).ToArray();
        Assert.Equal(2, decisions.Count(m => Equals(m.Tags["outcome"], "allowed") && Equals(m.Tags["policy"], string.Empty)));
        Assert.Equal(3, decisions.Count(m => Equals(m.Tags["outcome"], "rejected") && Equals(m.Tags["policy"], "tight")));
        Assert.All(decisions, m => Assert.Equal(false, m.Tags["degraded"]));
        Assert.Contains(metrics.Measurements, m => m.Instrument == "scaling.ratelimit.check.duration" && Equals(m.Tags["store"], "redis") && m.Value > 0);
        Assert.Contains(metrics.Measurements, m => m.Instrument == "scaling.ratelimit.degraded" && m.Value == 0);
    }
}
