namespace Scaling.RateLimit;

/// <summary>
/// The tenant a request belongs to and that tenant's subscription plan, as the application resolved them (for
/// example from <c>Scaling.Tenancy</c>'s <c>TenantInfo</c>); given to the limiter by
/// <see cref="ScalingRateLimitOptions.TenantResolver"/>.
/// </summary>
/// <param name="Id">The tenant's id; the tenant quota of its plan is counted under it.</param>
/// <param name="Plan">The tenant's plan, a key of <see cref="ScalingRateLimitOptions.Plans"/>; an unknown plan means none.</param>
public readonly record struct RateLimitTenant(string Id, string? Plan);
