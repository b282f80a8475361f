using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Scaling.Tenancy;
using Scaling.Tenancy.Resolution;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Scaling.Tenancy's tenant resolution for ASP.NET Core in a service collection.</summary>
public static class ScalingTenantResolutionServiceCollectionExtensions
{
    /// <summary>
    /// Registers tenant resolution configured by <paramref name="configure"/> (validated when the host starts) and
    /// <see cref="TenantContextAccessor"/> as the <see cref="ITenantContextAccessor"/> (unless one is registered already).
    /// Then add <c>app.UseScalingTenantResolution()</c> to the pipeline.
    /// </summary>
    /// <remarks>
    /// The middleware looks tenants up with the <see cref="ITenantLookup"/> registered in the container (the shard map
    /// registers one); this method does not register one.
    /// </remarks>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Builds the strategy chain, e.g. <c>o =&gt; o.AddSubdomain("{tenant}.example.com").AddHeader()</c>.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <example>
    /// <code>
    /// services.AddScalingTenantResolution(o =&gt; o
    ///     .AddSubdomain("{tenant}.example.com", "{tenant}.localhost")
    ///     .AddHeader()
    ///     .AddClaim()
    ///     .AddRouteValue());
    /// …
    /// app.UseAuthentication();
    /// app.UseScalingTenantResolution();
    /// app.MapGet("/bookings", (HttpContext http) =&gt; http.GetRequiredTenant().Id.Value).RequireTenant();
    /// </code>
    /// </example>
    public static IServiceCollection AddScalingTenantResolution(this IServiceCollection services, Action<TenantResolutionOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<TenantResolutionOptions>().Configure(options =>
        {
            try
            {
                configure(options);
            }
            catch (ArgumentException ex)
            {
                // A strategy with a bad template or name cannot even be built; report it as the options' failure.
                var message = TenantResolutionOptions.MessageWithoutParameter(ex);
                throw new OptionsValidationException(
                    Options.Options.DefaultName,
                    typeof(TenantResolutionOptions),
                    [message.StartsWith(nameof(TenantResolutionOptions), StringComparison.Ordinal) ? message : $"{nameof(TenantResolutionOptions)}: {message}"]);
            }
        }).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TenantResolutionOptions>, TenantResolutionOptionsValidator>());
        services.TryAddSingleton<ITenantContextAccessor, TenantContextAccessor>();
        return services;
    }
}
