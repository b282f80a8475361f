namespace Scaling.RateLimit;

/// <summary>
/// A tenant subscription plan: the tier that applies to each of the tenant's users, and optionally a quota that
/// the tenant's users share (for example a daily quota). Register plans in <see cref="ScalingRateLimitOptions.Plans"/>.
/// </summary>
/// <param name="Tier">The per-client tier of the plan's users, e.g. <see cref="RateLimitTiers.Premium"/>.</param>
public sealed record RateLimitPlan(RateLimitTier Tier)
{
    /// <summary>
    /// Gets the quota the whole tenant shares, counted per tenant (e.g. 200,000 per day); <see langword="null"/> for none.
    /// </summary>
    public RateLimitTier? TenantQuota { get; init; }
}
