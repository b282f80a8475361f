using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using RedisRateLimiting;
using Scaling.RateLimit;
using StackExchange.Redis;

namespace Scaling.Peers.Tests.RateLimit;

/// <summary>Who a check counts: the user (burst and tier) and the user's tenant (daily quota).</summary>
/// <param name="Tenant">The tenant, counted by the daily quota.</param>
/// <param name="User">The user, counted by the burst and the tier.</param>
internal readonly record struct Caller(string Tenant, string User);

/// <summary>
/// Our limiter and the peer, RedisRateLimiting 1.2.1, over the first test Redis. The peer is set up as its README shows
/// (a sliding-window limiter per policy, <c>ConnectionMultiplexerFactory</c> returning the application's multiplexer);
/// three policies are chained with <see cref="PartitionedRateLimiter.CreateChained{TResource}"/>, as ASP.NET Core
/// documents for several limiters on one request (it acquires from each in turn).
/// </summary>
internal static class RateLimitPeers
{
    /// <summary>Our limiter on its own key prefix, connected.</summary>
    public static async Task<RedisRateLimiter> OursAsync(Testing.TestServers servers, Action<ScalingRateLimitOptions>? configure = null)
    {
        var options = new ScalingRateLimitOptions
        {
            RedisConfiguration = servers.Redis[0].EndPoint,
            KeyPrefix = "p" + Guid.NewGuid().ToString("N")[..8] + ":",
        };
        configure?.Invoke(options);
        var limiter = new RedisRateLimiter(Options.Create(options));
        Assert.True(await limiter.ConnectAsync(), "our limiter did not connect to Redis");
        return limiter;
    }

    /// <summary>A policy of ours.</summary>
    public static RateLimitTier Policy(string name, int limit, TimeSpan window, RateLimitFailureMode mode = RateLimitFailureMode.LocalFallback) =>
        new(name, limit, window) { WhenRedisUnavailable = mode };

    /// <summary>The application's multiplexer that the peer is given (default settings, as in its README).</summary>
    public static Task<ConnectionMultiplexer> PeerConnectionAsync(Testing.TestServers servers) =>
        ConnectionMultiplexer.ConnectAsync(servers.Redis[0].EndPoint);

    /// <summary>One peer sliding-window limiter (its key is <c>rl:sw:{partition}</c>).</summary>
    public static RedisSlidingWindowRateLimiter<string> PeerLimiter(IConnectionMultiplexer connection, string partition, int limit, TimeSpan window) =>
        new(partition, new RedisSlidingWindowRateLimiterOptions
        {
            ConnectionMultiplexerFactory = () => connection,
            PermitLimit = limit,
            Window = window,
        });

    /// <summary>The peer's three policies chained: a per-user burst and tier, a per-tenant daily quota; partitions carry <paramref name="run"/>.</summary>
    public static PartitionedRateLimiter<Caller> PeerChain(IConnectionMultiplexer connection, string run, (int Limit, TimeSpan Window) burst, (int Limit, TimeSpan Window) tier, (int Limit, TimeSpan Window) daily) =>
        PartitionedRateLimiter.CreateChained(
            PeerPolicy(connection, $"{run}:burst", burst, c => c.User),
            PeerPolicy(connection, $"{run}:tier", tier, c => c.User),
            PeerPolicy(connection, $"{run}:tenant-daily", daily, c => c.Tenant));

    private static PartitionedRateLimiter<Caller> PeerPolicy(IConnectionMultiplexer connection, string name, (int Limit, TimeSpan Window) policy, Func<Caller, string> subject) =>
        PartitionedRateLimiter.Create<Caller, string>(caller => RedisRateLimitPartition.GetSlidingWindowRateLimiter(
            name + ":" + subject(caller),
            _ => new RedisSlidingWindowRateLimiterOptions
            {
                ConnectionMultiplexerFactory = () => connection,
                PermitLimit = policy.Limit,
                Window = policy.Window,
            }));
}
