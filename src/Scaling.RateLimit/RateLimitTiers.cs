namespace Scaling.RateLimit;

/// <summary>The default rate-limit tiers.</summary>
/// <remarks>
/// These are starting points; derive other limits with a <see langword="with"/> expression, e.g.
/// <c>RateLimitTiers.Authenticated with { PermitLimit = 2_000 }</c>.
/// </remarks>
public static class RateLimitTiers
{
    /// <summary>Gets the tier for anonymous clients: 100 requests per minute, named <c>anonymous</c>.</summary>
    public static RateLimitTier Anonymous { get; } = new("anonymous", 100, TimeSpan.FromMinutes(1));

    /// <summary>Gets the tier for authenticated users: 1,000 requests per minute, named <c>authenticated</c>.</summary>
    public static RateLimitTier Authenticated { get; } = new("authenticated", 1_000, TimeSpan.FromMinutes(1));

    /// <summary>Gets the tier for premium subscribers: 5,000 requests per minute, named <c>premium</c>.</summary>
    public static RateLimitTier Premium { get; } = new("premium", 5_000, TimeSpan.FromMinutes(1));
}
