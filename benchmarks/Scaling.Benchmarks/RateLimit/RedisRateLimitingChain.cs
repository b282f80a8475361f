using System.Threading.RateLimiting;
using RedisRateLimiting;
using StackExchange.Redis;

namespace Scaling.Benchmarks.RateLimit;

/// <summary>Who a check counts: the user (burst and tier) and the user's tenant (daily quota).</summary>
/// <param name="Tenant">The tenant, counted by the daily quota.</param>
/// <param name="User">The user, counted by the burst and the tier.</param>
public readonly record struct RateLimitCaller(string Tenant, string User);

/// <summary>
/// The peer, RedisRateLimiting 1.2.1, as its users compose three policies: one Redis sliding-window limiter per policy
/// (<c>RedisRateLimitPartition.GetSlidingWindowRateLimiter</c>, options with <c>ConnectionMultiplexerFactory</c>, as
/// its README shows), the three chained with ASP.NET Core's <see cref="PartitionedRateLimiter.CreateChained{TResource}"/>
/// (the documented way to apply several limiters to one request: it acquires from each in turn, three round trips).
/// </summary>
public static class RedisRateLimitingChain
{
    /// <summary>Creates the chain: a per-second burst and a per-minute tier per user, a daily quota per tenant.</summary>
    /// <param name="connection">The application's multiplexer.</param>
    /// <param name="burst">The burst's limit (per second).</param>
    /// <param name="tier">The tier's limit (per minute).</param>
    /// <param name="daily">The tenant's daily quota.</param>
    /// <returns>The chained limiter.</returns>
    public static PartitionedRateLimiter<RateLimitCaller> Create(IConnectionMultiplexer connection, int burst, int tier, int daily) =>
        PartitionedRateLimiter.CreateChained(
            Policy(connection, "burst", burst, TimeSpan.FromSeconds(1), c => c.User),
            Policy(connection, "tier", tier, TimeSpan.FromMinutes(1), c => c.User),
            Policy(connection, "tenant-daily", daily, TimeSpan.FromDays(1), c => c.Tenant));

    private static PartitionedRateLimiter<RateLimitCaller> Policy(IConnectionMultiplexer connection, string name, int limit, TimeSpan window, Func<RateLimitCaller, string> subject) =>
        PartitionedRateLimiter.Create<RateLimitCaller, string>(caller => RedisRateLimitPartition.GetSlidingWindowRateLimiter(
            name + ":" + subject(caller), // its key is rl:sw:{partition}: the policy's name keeps the three apart
            _ => new RedisSlidingWindowRateLimiterOptions
            {
                ConnectionMultiplexerFactory = () => connection,
                PermitLimit = limit,
                Window = window,
            }));
}
