using System.Diagnostics.Metrics;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Scaling.Cache;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="TwoTierCache"/>.</summary>
public static class ScalingCacheServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="TwoTierCache"/> as a singleton, both as itself and as <see cref="HybridCache"/>, with
    /// options validated at start-up (<see cref="ScalingCacheOptionsValidator"/>). Serializers: register
    /// <see cref="IHybridCacheSerializerFactory"/> services (the last registered is tried first); System.Text.Json
    /// serves the rest. Calling it twice registers nothing twice (the second <paramref name="configure"/> still applies).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">
    /// Sets the options; <see cref="ScalingCacheOptions.RedisConfiguration"/> (or
    /// <see cref="ScalingCacheOptions.ConnectionMultiplexerFactory"/>) is required. Binding configuration is the
    /// application's choice: <c>services.Configure&lt;ScalingCacheOptions&gt;(section)</c> works beside it.
    /// </param>
    /// <returns>The same service collection, so calls chain.</returns>
    public static IServiceCollection AddScalingCache(this IServiceCollection services, Action<ScalingCacheOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<ScalingCacheOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ScalingCacheOptions>, ScalingCacheOptionsValidator>());
        services.TryAddSingleton(static sp => new TwoTierCache(
            sp.GetRequiredService<IOptions<ScalingCacheOptions>>(),
            sp.GetServices<IHybridCacheSerializerFactory>(),
            sp.GetService<ILogger<TwoTierCache>>(),
            sp.GetService<IMeterFactory>(),
            sp.GetService<TimeProvider>()));
        services.TryAddSingleton<HybridCache>(static sp => sp.GetRequiredService<TwoTierCache>());
        return services;
    }
}
