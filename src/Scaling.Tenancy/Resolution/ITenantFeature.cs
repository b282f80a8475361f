namespace Scaling.Tenancy.Resolution;

/// <summary>
/// The tenant the tenant resolution middleware resolved for a request, kept in <c>HttpContext.Features</c> (read it with
/// <see cref="TenantHttpContextExtensions.GetTenant"/>). Absent when the request identified no tenant.
/// </summary>
public interface ITenantFeature
{
    /// <summary>Gets the resolved tenant, as <see cref="ITenantLookup"/> returned it.</summary>
    TenantInfo Tenant { get; }

    /// <summary>Gets the <see cref="ITenantResolutionStrategy.Name"/> of the strategy whose candidate was resolved, e.g. <c>header 'X-Tenant'</c>.</summary>
    string Source { get; }
}
