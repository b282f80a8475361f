using Scaling.Testing;

namespace Scaling.RateLimit.Tests;

/// <summary>The limiter on the application's own multiplexer: no connection of its own, and the multiplexer left as it was.</summary>
[Collection(ServersCollection.Name)]
public sealed class SharedMultiplexerTests(ServersFixture fixture)
{
    [Fact]
    public async Task The_limiter_counts_on_the_application_multiplexer_and_leaves_it_open_and_unchanged()
    {
        await using var app = await ApplicationMultiplexer.ConnectAsync(fixture.Servers.Redis[0].EndPoint);
        var options = RateLimitTestKit.Options(fixture.Servers, o =>
        {
            o.RedisConfiguration = string.Empty;
            o.ConnectionMultiplexerFactory = app.Factory;
        });
        var limiter = await RateLimitTestKit.Limiter(options).WarmAsync();
        var check = new RateLimitCheck("shared", "test").Add(RateLimitTestKit.Policy("per-minute", 3, 60));
        var decisions = new List<bool>();
        for (var i = 0; i < 4; i++)
        {
            var decision = await limiter.CheckAsync(check);
            Assert.False(decision.IsDegraded);
            decisions.Add(decision.IsAllowed);
        }

        Assert.Equal([true, true, true, false], decisions);
        Assert.DoesNotContain(await app.OtherClientNamesAsync(), n => n.StartsWith("scaling-", StringComparison.Ordinal));
        await limiter.DisposeAsync();
        await app.AssertUntouchedAsync();
    }
}
