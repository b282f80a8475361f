using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Scaling.Tenancy's shard map, router and mover in a service collection.</summary>
public static class ScalingTenancyServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="ShardMap"/> (also as the <see cref="ITenantLookup"/> the resolution middleware uses),
    /// <see cref="ShardRouter"/>, <see cref="TenantMover"/>, <see cref="TenantContextAccessor"/> as the
    /// <see cref="ITenantContextAccessor"/>, the hosted <see cref="ShardMapService"/> that loads the map in the background,
    /// and <see cref="ShardMapHealthCheck"/> for <c>AddHealthChecks().AddCheck&lt;ShardMapHealthCheck&gt;(...)</c>.
    /// The options are validated when the host starts; each failure names the option.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options (metadata connection string, Redis, tenant role, tenant tables, ...).</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddScalingTenancy(this IServiceCollection services, Action<ScalingTenancyOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<ScalingTenancyOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ScalingTenancyOptions>, ScalingTenancyOptionsValidator>());
        services.TryAddSingleton(sp => new ShardMap(
            sp.GetRequiredService<IOptions<ScalingTenancyOptions>>(),
            sp.GetService<ILogger<ShardMap>>(),
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddSingleton<ITenantLookup>(sp => sp.GetRequiredService<ShardMap>());
        services.TryAddSingleton(sp => new ShardRouter(
            sp.GetRequiredService<IOptions<ScalingTenancyOptions>>(),
            sp.GetRequiredService<ShardMap>(),
            sp.GetService<ILoggerFactory>(),
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddSingleton(sp => new TenantAdministration(sp.GetRequiredService<ShardRouter>()));
        services.TryAddSingleton(sp => new TenantMover(sp.GetRequiredService<ShardRouter>()));
        services.TryAddSingleton<ITenantContextAccessor, TenantContextAccessor>();
        services.TryAddSingleton<ShardMapHealthCheck>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, ShardMapService>());
        return services;
    }
}
