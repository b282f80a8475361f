using Microsoft.Extensions.Caching.Hybrid;
using StackExchange.Redis;

namespace Scaling.Cache;

/// <summary>
/// Options of <see cref="TwoTierCache"/>: the Redis connection (L2 and backplane), entry lifetimes, L1 size,
/// fail-safe, factory timeouts, eager refresh, jitter and the Redis circuit breaker. Validated at start-up by
/// <see cref="ScalingCacheOptionsValidator"/>; every error names the option.
/// </summary>
public sealed class ScalingCacheOptions
{
    /// <summary>
    /// The StackExchange.Redis configuration string of the Redis server that holds L2 and carries the
    /// backplane (for example <c>127.0.0.1:6379</c>); the cache makes its own multiplexer from it. Required unless
    /// <see cref="ConnectionMultiplexerFactory"/> is set.
    /// </summary>
    public string? RedisConfiguration { get; set; }

    /// <summary>
    /// Gets the application's own multiplexer (taking precedence over <see cref="RedisConfiguration"/>), as in
    /// <c>Microsoft.Extensions.Caching.StackExchangeRedis</c>: the cache uses it for L2 and the backplane, and never
    /// closes it nor changes its settings. Called once; a failure is retried on a later cache call.
    /// </summary>
    public Func<Task<IConnectionMultiplexer>>? ConnectionMultiplexerFactory { get; set; }

    /// <summary>
    /// The prefix of every Redis key and of the backplane channel, so several caches (or applications) can
    /// share one Redis. Printable ASCII, at most 64 characters. Default <c>scaling-cache:</c>.
    /// </summary>
    public string KeyPrefix { get; set; } = "scaling-cache:";

    /// <summary>
    /// How long an entry is fresh when the call passes no <see cref="HybridCacheEntryOptions.Expiration"/>.
    /// Default 5 minutes.
    /// </summary>
    public TimeSpan DefaultExpiration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The cap on how long an entry is fresh in L1 (the safety net for an invalidation this instance could have
    /// missed): an L1 entry older than this is looked up again in L2. Default 5 minutes.
    /// </summary>
    public TimeSpan MaxLocalExpiration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The maximum number of entries in L1; the least recently used go first. Default 100,000.</summary>
    public long LocalCacheSizeLimit { get; set; } = 100_000;

    /// <summary>
    /// Whether an expired value may be served when refreshing it fails (the factory throws or times out, or
    /// Redis is down). Default <see langword="true"/>.
    /// </summary>
    public bool EnableFailSafe { get; set; } = true;

    /// <summary>
    /// How long after it expired a value may still be served by fail-safe; expired values are kept this long
    /// in both tiers. Default 1 hour.
    /// </summary>
    public TimeSpan FailSafeMaxDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// After fail-safe served a stale value, how long it is served before the factory is tried again (so a
    /// failing backend is not called on every request). Default 30 seconds.
    /// </summary>
    public TimeSpan FailSafeThrottleDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// When a stale value is available, how long callers wait for the factory before they get the stale value;
    /// the factory then finishes in the background and its result is cached. <see cref="Timeout.InfiniteTimeSpan"/>
    /// (the default) waits for the factory.
    /// </summary>
    public TimeSpan FactorySoftTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// The longest callers wait for the factory when no stale value is available; then they get a
    /// <see cref="TimeoutException"/> while the factory finishes in the background.
    /// <see cref="Timeout.InfiniteTimeSpan"/> (the default) waits for the factory.
    /// </summary>
    public TimeSpan FactoryHardTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// The fraction of an entry's L1 lifetime after which a hit starts a background refresh (the caller gets
    /// the current value at once), for example 0.8. <see langword="null"/> (the default) turns eager refresh off.
    /// </summary>
    public double? EagerRefreshThreshold { get; set; }

    /// <summary>
    /// Expiry jitter: every lifetime is lengthened by a random amount up to this fraction of it, so entries
    /// written together do not expire together. From 0 to 0.5; default 0.1.
    /// </summary>
    public double ExpirationJitter { get; set; } = 0.1;

    /// <summary>The maximum length of a cache key or tag, in characters. Default 512.</summary>
    public int MaxKeyLength { get; set; } = CacheKeyValidator.DefaultMaxLength;

    /// <summary>
    /// What a call with an invalid key (or <c>RemoveByTagAsync</c> with an invalid tag; see
    /// <see cref="CacheKeyValidator"/> and <see cref="MaxKeyLength"/>) does. <see langword="false"/> (the default)
    /// behaves as Microsoft's <c>HybridCache</c>: the call is logged (a warning naming the reason), counted
    /// (<c>scaling.cache.keys.invalid</c>) and bypasses the cache: <c>GetOrCreateAsync</c> runs the factory and returns
    /// its result without caching it, <c>SetAsync</c>, <c>RemoveAsync</c> and <c>RemoveByTagAsync</c> do nothing.
    /// <see langword="true"/> throws an <see cref="ArgumentException"/> that names the rule broken instead.
    /// </summary>
    public bool ThrowOnInvalidKey { get; set; }

    /// <summary>The largest serialized value stored in L2, in bytes. Default 1 MiB.</summary>
    public int MaxPayloadBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// The longest one Redis operation may take before it counts as failed (and the circuit breaker opens); a write
    /// that reaches Redis later than this is refused there. Default 500 ms.
    /// </summary>
    public TimeSpan DistributedCacheTimeout { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// How long Redis is left alone after an operation failed: L2 reads and writes are skipped (the cache works
    /// from L1 and the factory) until one probe succeeds. Default 5 seconds.
    /// </summary>
    public TimeSpan CircuitBreakDuration { get; set; } = TimeSpan.FromSeconds(5);
}
