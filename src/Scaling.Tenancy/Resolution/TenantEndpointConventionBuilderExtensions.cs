using Scaling.Tenancy.Resolution;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Marks endpoints as needing a tenant.</summary>
public static class TenantEndpointConventionBuilderExtensions
{
    /// <summary>
    /// Adds <see cref="RequireTenantAttribute"/> to the endpoint(s): a request that identifies no tenant is refused with
    /// 400 (<c>application/problem+json</c>) by the tenant resolution middleware.
    /// </summary>
    /// <typeparam name="TBuilder">The endpoint convention builder type.</typeparam>
    /// <param name="builder">The endpoint(s), e.g. what <c>app.MapGet(…)</c> or <c>app.MapGroup(…)</c> returns.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    public static TBuilder RequireTenant<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Add(static endpoint => endpoint.Metadata.Add(new RequireTenantAttribute()));
        return builder;
    }
}
