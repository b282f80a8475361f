using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Scaling.Tenancy;
using Scaling.Tenancy.Resolution;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds Scaling.Tenancy's tenant resolution middleware to an ASP.NET Core pipeline.</summary>
public static class ScalingTenantResolutionApplicationBuilderExtensions
{
    /// <summary>
    /// Resolves each request's tenant with the strategy chain registered by <c>AddScalingTenantResolution</c> and runs the
    /// rest of the pipeline in that tenant's scope (<see cref="ITenantContextAccessor.Current"/>, <c>HttpContext.GetTenant()</c>).
    /// A malformed tenant id is answered with 400, a cross-tenant request with 403, an unknown tenant with 404, and a
    /// <see cref="TenantNotFoundException"/> or <see cref="TenantUnavailableException"/> raised further down the pipeline
    /// with 404 or 503 (with <c>Retry-After</c>), all as <c>application/problem+json</c>. A request that identifies no
    /// tenant continues without one, unless its endpoint requires one (<c>.RequireTenant()</c>: 400).
    /// </summary>
    /// <remarks>
    /// Place it after <c>app.UseAuthentication()</c> (the claim strategy reads the user) and, when routing is added
    /// explicitly, after <c>app.UseRouting()</c> (the route value strategy and <c>.RequireTenant()</c> read the endpoint).
    /// </remarks>
    /// <param name="app">The application builder.</param>
    /// <returns><paramref name="app"/>, for chaining.</returns>
    /// <exception cref="InvalidOperationException">
    /// <c>AddScalingTenantResolution</c> was not called, or no <see cref="ITenantLookup"/> is registered.
    /// </exception>
    public static IApplicationBuilder UseScalingTenantResolution(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var isService = app.ApplicationServices.GetService<IServiceProviderIsService>();
        if (app.ApplicationServices.GetService<IValidateOptions<TenantResolutionOptions>>() is null)
        {
            throw new InvalidOperationException(
                "UseScalingTenantResolution needs the tenant resolution services: call services.AddScalingTenantResolution(o => …) when configuring services.");
        }

        if (isService is not null && !isService.IsService(typeof(ITenantLookup)))
        {
            throw new InvalidOperationException(
                "UseScalingTenantResolution needs an ITenantLookup to find tenants by id, and none is registered: register the shard map " +
                "(or your own ITenantLookup implementation) in the service collection.");
        }

        return app.UseMiddleware<TenantResolutionMiddleware>();
    }
}
