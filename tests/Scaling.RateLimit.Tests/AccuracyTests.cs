using Scaling.Testing;
using Xunit.Abstractions;

namespace Scaling.RateLimit.Tests;

/// <summary>
/// Many concurrent clients on two limiter instances (separate connections) sharing one Redis, across several
/// window boundaries: the admissions, stamped with Redis's clock, are checked in every sliding window.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class AccuracyTests(ServersFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task Log_mode_never_admits_more_than_the_limit_in_any_sliding_window()
    {
        var result = await HammerAsync(RateLimitAlgorithm.SlidingLog, limit: 50, TimeSpan.FromSeconds(3.5));

        output.WriteLine($"log mode: {result.Admitted} admitted, {result.Rejected} rejected, {result.Over} over the limit, at most {result.MaxInWindow} in any 1 s window (limit 50)");
        result.AssertLogModeBounds();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Counter_mode_never_admits_more_than_the_limit_in_any_sliding_window(bool paced)
    {
        // Tight loop: every client retries at once, so admissions bunch at the instant capacity frees up (the counter's
        // hardest case). Paced: each client waits 20 to 60 ms between requests (together about four times the limit when
        // requests are quick; a busy machine slows the clients, and at 40 to 120 ms one CI run offered only 1.2 times it).
        var result = await HammerAsync(
            RateLimitAlgorithm.SlidingWindowCounter, limit: 200, TimeSpan.FromSeconds(4.5), paced ? (20, 60) : null);

        output.WriteLine($"counter mode ({(paced ? "paced" : "tight loop")}): {result.Admitted} admitted, {result.Rejected} rejected, {result.Over} over the limit ({100.0 * result.Over / result.Admitted:0.00} %), at most {result.MaxInWindow} in any 1 s window (limit 200)");
        result.AssertCounterModeBounds();
    }

    private Task<HammerResult> HammerAsync(RateLimitAlgorithm algorithm, int limit, TimeSpan duration, (int Min, int Max)? pace = null)
    {
        // A generous Redis timeout: 32 busy clients on a small shared machine must not be mistaken for Redis being down.
        var options = RateLimitTestKit.Options(fixture.Servers, o => o.RedisTimeout = TimeSpan.FromSeconds(10));
        return RateLimitTestKit.HammerAsync(options, "api:global", algorithm, limit, duration, pace);
    }
}
