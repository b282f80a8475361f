using System.Diagnostics;
using Scaling.RateLimit;
using Scaling.Testing;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Scaling.Peers.Tests.RateLimit;

/// <summary>
/// The rate limiter with its Redis killed (restarted in <c>finally</c>): ours answers every check at once with each
/// policy's failure mode; the peer's acquisition fails with the client library's exception.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class RedisDownTests(ServersFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task With_Redis_down_ours_applies_each_failure_mode_and_RedisRateLimiting_throws()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        await using var ours = await RateLimitPeers.OursAsync(fixture.Servers, o =>
        {
            o.ExpectedInstanceCount = 2;
            o.BreakDuration = TimeSpan.FromSeconds(2);
        });
        var open = new RateLimitCheck($"u:{run}:open", "down").Add(RateLimitPeers.Policy("fail-open", 100, TimeSpan.FromMinutes(1), RateLimitFailureMode.FailOpen));
        var closed = new RateLimitCheck($"u:{run}:closed", "down").Add(RateLimitPeers.Policy("fail-closed", 100, TimeSpan.FromMinutes(1), RateLimitFailureMode.FailClosed));
        var local = new RateLimitCheck($"u:{run}:local", "down").Add(RateLimitPeers.Policy("local", 10, TimeSpan.FromMinutes(1)));
        using var connection = await RateLimitPeers.PeerConnectionAsync(fixture.Servers);
        using var peer = RateLimitPeers.PeerChain(connection, run, (100, TimeSpan.FromSeconds(1)), (100, TimeSpan.FromMinutes(1)), (100, TimeSpan.FromDays(1)));
        var caller = new Caller($"t:{run}", $"u:{run}");
        Assert.True((await ours.CheckAsync(local)).IsAllowed);
        using (var lease = await peer.AcquireAsync(caller))
        {
            Assert.True(lease.IsAcquired);
        }

        var redis = fixture.Servers.Redis[0];
        await redis.KillAsync();
        try
        {
            // Ours: answered at once, without an exception, by each policy's failure mode.
            var stopwatch = Stopwatch.StartNew();
            var openDecision = await ours.CheckAsync(open);
            output.WriteLine($"ours, first check with Redis down: {stopwatch.ElapsedMilliseconds} ms, allowed {openDecision.IsAllowed}, degraded {openDecision.IsDegraded}");
            Assert.True(openDecision.IsAllowed);
            Assert.True(openDecision.IsDegraded);

            var closedDecision = await ours.CheckAsync(closed);
            Assert.False(closedDecision.IsAllowed);
            Assert.True(closedDecision.IsDegraded);
            Assert.Equal("fail-closed", closedDecision.RejectedBy);
            Assert.Equal(TimeSpan.FromSeconds(2), closedDecision.RetryAfter);

            // LocalFallback: 10 / 2 instances = 5 more in this process (the one counted in Redis is not carried over).
            var admitted = 0;
            for (var i = 0; i < 8; i++)
            {
                var decision = await ours.CheckAsync(local);
                Assert.True(decision.IsDegraded);
                admitted += decision.IsAllowed ? 1 : 0;
            }

            Assert.Equal(5, admitted);

            // The peer: no failure mode; the acquisition waits in StackExchange.Redis's backlog for the connection's timeout
            // (5 s by default) and throws. Under UseRateLimiter the request fails (500): neither admitted nor rejected.
            stopwatch.Restart();
            var exception = await Assert.ThrowsAsync<RedisConnectionException>(async () => await peer.AcquireAsync(caller));
            output.WriteLine($"RedisRateLimiting with Redis down: {exception.GetType().FullName} after {stopwatch.ElapsedMilliseconds} ms: {exception.Message[..Math.Min(exception.Message.Length, 140)]}");
            Assert.Contains("timed out in the backlog", exception.Message, StringComparison.Ordinal);
        }
        finally
        {
            await redis.RestartAsync();
        }

        await Eventually.TrueAsync(async () => !(await ours.CheckAsync(local)).IsDegraded, TimeSpan.FromSeconds(15), "our checks on Redis again");
        await Eventually.TrueAsync(
            async () =>
            {
                try
                {
                    using var lease = await peer.AcquireAsync(caller);
                    return lease.IsAcquired;
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    return false;
                }
            },
            TimeSpan.FromSeconds(15),
            "the peer acquiring again");
    }
}
