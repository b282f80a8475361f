using Microsoft.AspNetCore.Http;

namespace Scaling.Tenancy.Resolution;

/// <summary>Reads the tenant that the tenant resolution middleware resolved for a request.</summary>
public static class TenantHttpContextExtensions
{
    /// <summary>Gets the request's tenant, or <see langword="null"/> when the request identified none.</summary>
    /// <param name="context">The request.</param>
    /// <returns>The tenant resolved by the middleware (<see cref="ITenantFeature.Tenant"/>), or <see langword="null"/>.</returns>
    public static TenantInfo? GetTenant(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Features.Get<ITenantFeature>()?.Tenant;
    }

    /// <summary>Gets the request's tenant, or throws when the request identified none.</summary>
    /// <param name="context">The request.</param>
    /// <returns>The tenant resolved by the middleware.</returns>
    /// <exception cref="InvalidOperationException">
    /// No tenant was resolved: the request identified none, or the tenant resolution middleware did not run before the caller
    /// (mark the endpoint with <c>.RequireTenant()</c> so such requests are answered with 400 before they get here).
    /// </exception>
    public static TenantInfo GetRequiredTenant(this HttpContext context) =>
        context.GetTenant() ?? throw new InvalidOperationException(
            "The request has no tenant: it identified none, or app.UseScalingTenantResolution() did not run before this code. " +
            "Mark the endpoint with .RequireTenant() (or [RequireTenant]) so such requests are refused with 400 before they reach it.");
}
