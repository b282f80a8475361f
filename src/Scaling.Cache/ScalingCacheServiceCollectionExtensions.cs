using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Scaling.Cache;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="TwoTierCache"/>.</summary>
public static class ScalingCacheServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="TwoTierCache"/> as a singleton, both as itself and as <see cref="HybridCache"/>, with
    /// options validated at start-up. Serializers: register <see cref="IHybridCacheSerializerFactory"/> services
    /// (the last registered is tried first); System.Text.Json serves the rest.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options; <see cref="ScalingCacheOptions.RedisConfiguration"/> is required.</param>
    /// <returns>The options builder, for further configuration or binding.</returns>
    public static OptionsBuilder<ScalingCacheOptions> AddScalingCache(this IServiceCollection services, Action<ScalingCacheOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ScalingCacheOptions>, ScalingCacheOptionsValidator>());
        services.TryAddSingleton(static sp => new TwoTierCache(
            sp.GetRequiredService<IOptions<ScalingCacheOptions>>(),
            sp.GetService<Microsoft.Extensions.Logging.ILoggerFactory>(),
            sp.GetServices<IHybridCacheSerializerFactory>(),
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>(),
            sp.GetService<TimeProvider>()));
        services.TryAddSingleton<HybridCache>(static sp => sp.GetRequiredService<TwoTierCache>());
        return services.AddOptions<ScalingCacheOptions>().Configure(configure).ValidateOnStart();
    }
}
