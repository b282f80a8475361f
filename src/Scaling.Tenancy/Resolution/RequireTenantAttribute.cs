namespace Scaling.Tenancy.Resolution;

/// <summary>
/// Endpoint metadata that makes the tenant resolution middleware refuse a request that identifies no tenant (400,
/// <c>application/problem+json</c>, listing the sources tried) instead of letting it through without a tenant. Put it on
/// a controller or action, or add it to an endpoint with <c>.RequireTenant()</c>.
/// </summary>
/// <remarks>
/// The middleware reads endpoint metadata, so routing must have selected the endpoint before it runs (<c>WebApplication</c>
/// does so by itself; with an explicit <c>app.UseRouting()</c>, call <c>app.UseScalingTenantResolution()</c> after it).
/// </remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class RequireTenantAttribute : Attribute
{
}
