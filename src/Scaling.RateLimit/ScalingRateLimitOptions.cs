using Microsoft.AspNetCore.Http;
using System.Security.Claims;
using StackExchange.Redis;

namespace Scaling.RateLimit;

/// <summary>
/// Options of Scaling.RateLimit: the Redis connection, the tiers, plans and policies, how clients are
/// identified, and what happens while Redis is down. Validated when the host starts (see
/// <see cref="ScalingRateLimitOptionsValidator"/>). Everything except <see cref="RedisConfiguration"/> and <see cref="KeyPrefix"/>
/// may be changed at run time (through <c>IOptionsMonitor</c>); a change that fails validation is logged and
/// ignored (the last valid options stay in force).
/// </summary>
public sealed class ScalingRateLimitOptions
{
    /// <summary>The longest <see cref="KeyPrefix"/> accepted, in characters.</summary>
    public const int MaxKeyPrefixLength = 64;

    /// <summary>
    /// The StackExchange.Redis configuration string of the Redis that holds the counters, e.g.
    /// <c>10.0.0.5:6379,password=…</c>; the limiter makes its own multiplexer from it. Required unless
    /// <see cref="ConnectionMultiplexerFactory"/> is set. Read once, at start-up.
    /// </summary>
    public string RedisConfiguration { get; set; } = string.Empty;

    /// <summary>
    /// Gets the application's own multiplexer (taking precedence over <see cref="RedisConfiguration"/>), as in
    /// <c>Microsoft.Extensions.Caching.StackExchangeRedis</c>: the limiter never closes it nor changes its settings.
    /// Read once, at start-up; a failure is retried on a later check.
    /// </summary>
    public Func<Task<IConnectionMultiplexer>>? ConnectionMultiplexerFactory { get; set; }

    /// <summary>The prefix of every key, without <c>{</c> or <c>}</c>. Default <c>rl:</c>. Read once, at start-up.</summary>
    public string KeyPrefix { get; set; } = "rl:";

    /// <summary>The tier of clients that are not authenticated (keyed by client IP address). Default 100 per minute.</summary>
    public RateLimitTier AnonymousTier { get; set; } = RateLimitTiers.Anonymous;

    /// <summary>The tier of authenticated users and valid API keys without a plan. Default 1,000 per minute.</summary>
    public RateLimitTier AuthenticatedTier { get; set; } = RateLimitTiers.Authenticated;

    /// <summary>
    /// The subscription plans by name (case-insensitive), chosen by the plan of the request's tenant (<see cref="TenantResolver"/>).
    /// By default holds <c>premium</c> (5,000 per minute, no tenant quota).
    /// </summary>
    public IDictionary<string, RateLimitPlan> Plans { get; } =
        new Dictionary<string, RateLimitPlan>(StringComparer.OrdinalIgnoreCase) { ["premium"] = new(RateLimitTiers.Premium) };

    /// <summary>
    /// A short-window policy applied to every client on top of its tier (e.g. 20 per second), or
    /// <see langword="null"/> (the default) for none.
    /// </summary>
    public RateLimitTier? Burst { get; set; }

    /// <summary>
    /// Policies per endpoint, keyed by request path prefix (e.g. <c>/api/search</c>; matched case-insensitively on
    /// whole segments, the longest prefix wins), counted per client on top of its tier.
    /// </summary>
    public IDictionary<string, RateLimitTier> EndpointPolicies { get; } = new Dictionary<string, RateLimitTier>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The claim types that hold an authenticated user's id, tried in order. Default: name identifier, then <c>sub</c>.</summary>
    public IList<string> UserIdClaimTypes { get; } = [ClaimTypes.NameIdentifier, "sub"];

    /// <summary>
    /// Gives the tenant of a request and its plan, as the application resolved them, or <see langword="null"/> for
    /// a request of no tenant. An authenticated user's request is counted under the tier of its tenant's plan (one of
    /// <see cref="Plans"/>), and under the plan's <see cref="RateLimitPlan.TenantQuota"/> shared by all of the tenant's
    /// users; otherwise under <see cref="AuthenticatedTier"/>. With <c>Scaling.Tenancy</c>, give it the tenant that
    /// resolution produced: <c>context =&gt; context.GetTenant() is { } t ? new(t.Id.Value, t.Plan) : null</c> (and run
    /// tenant resolution before the limiter). Default: <see langword="null"/>, no tenant.
    /// </summary>
    public Func<HttpContext, RateLimitTenant?>? TenantResolver { get; set; }

    /// <summary>
    /// The request header that carries an API key, or <see langword="null"/> (the default) to ignore API keys.
    /// Requires <see cref="ApiKeyValidator"/>: an unchecked key would let a client mint new partitions at will.
    /// </summary>
    public string? ApiKeyHeaderName { get; set; }

    /// <summary>
    /// Says whether an API key is valid; a valid key gets <see cref="AuthenticatedTier"/>, counted per key (the key is
    /// hashed, never stored or logged). An invalid key falls back to the anonymous tier.
    /// </summary>
    public Func<string, bool>? ApiKeyValidator { get; set; }

    /// <summary>
    /// The proxies (IP addresses or CIDR ranges such as <c>10.0.0.0/8</c>) whose <see cref="ForwardedForHeaderName"/>
    /// header is believed. Empty (the default): the header is ignored and the connection's address is the client's.
    /// </summary>
    public IList<string> TrustedProxies { get; } = [];

    /// <summary>The header that trusted proxies append the client address to. Default <c>X-Forwarded-For</c>.</summary>
    public string ForwardedForHeaderName { get; set; } = "X-Forwarded-For";

    /// <summary>
    /// The prefix length that IPv6 clients are counted by (one client usually owns a whole /64). Default 64;
    /// 128 counts each address.
    /// </summary>
    public int IPv6PrefixLength { get; set; } = 64;

    /// <summary>
    /// How many instances share the limits; while Redis is down a <see cref="RateLimitFailureMode.LocalFallback"/>
    /// policy allows each instance its limit divided by this (at least 1). Default 1.
    /// </summary>
    public int ExpectedInstanceCount { get; set; } = 1;

    /// <summary>How long one check may wait for Redis before it counts as failed. Default 250 ms.</summary>
    public TimeSpan RedisTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How many consecutive Redis failures open the circuit breaker. Default 3.</summary>
    public int BreakerFailureThreshold { get; set; } = 3;

    /// <summary>
    /// How long the breaker stays open (no Redis calls; every policy applies its failure mode) before one probe
    /// call tests Redis again. Default 5 s.
    /// </summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The most permits one instance may count in Redis ahead of use, per set of keys, and then admit without a round
    /// trip. Default 0: every check is one script call. Above 0, a check of counters (not of a sliding log) may reserve
    /// that many more permits, as many as the key set's recent demand on this instance, at most a quarter of what each of
    /// its policies has left; later checks of the same keys are admitted from the reservation until it runs out or the
    /// current sub-window (a sixteenth of the shortest window) ends, at most one second. Nothing is ever admitted over a
    /// limit: reserved permits are counted when reserved, in the sub-window where they are used. The cost is precision
    /// the other way: a reserved permit left unused stays counted, so a client may be held a little below its limit, and
    /// the <c>RateLimit</c> header's remaining quota counts this instance's unused reservation as available. For hot keys
    /// (a tenant's quota, a busy client behind a gateway) it takes the limiter off the request's path.
    /// </summary>
    public int MaxReservedPermits { get; set; }

    /// <summary>
    /// The most keys the in-process fallback keeps; beyond it, after dropping idle keys, a new key is refused
    /// (so a flood of new clients while Redis is down cannot exhaust memory). Default 100,000.
    /// </summary>
    public int MaxLocalFallbackKeys { get; set; } = 100_000;
}
