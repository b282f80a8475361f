using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Scaling.Locks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Scaling.Locks in a service collection.</summary>
public static class ScalingLocksServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IDistributedLockProvider"/> (a singleton <see cref="RedlockProvider"/>) configured
    /// by <paramref name="configure"/>; the options are validated when the host starts.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options, e.g. <c>o => o.AddEndpoints(configuration.GetConnectionString("RedisLockMasters"))</c>.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <example>
    /// <code>
    /// services.AddScalingLocks(o =&gt; o.AddEndpoints("10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379"));
    /// </code>
    /// </example>
    public static IServiceCollection AddScalingLocks(this IServiceCollection services, Action<ScalingLocksOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<ScalingLocksOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ScalingLocksOptions>, ScalingLocksOptionsValidator>());
        services.TryAddSingleton(sp => new RedlockProvider(
            sp.GetRequiredService<IOptions<ScalingLocksOptions>>(),
            sp.GetService<IFencingTokenSource>(),
            sp.GetService<ILogger<RedlockProvider>>(),
            sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<IDistributedLockProvider>(sp => sp.GetRequiredService<RedlockProvider>());
        return services;
    }

    /// <summary>
    /// Gives every acquisition a fencing token from <see cref="PostgresFencingTokenSource"/> over the database
    /// that holds the protected data (registered as <see cref="IFencingTokenSource"/>).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="dataSource">Returns the data source of the database that holds the protected data (not disposed by the lock provider).</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddScalingLockFencing(this IServiceCollection services, Func<IServiceProvider, NpgsqlDataSource> dataSource)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(dataSource);
        services.TryAddSingleton<IFencingTokenSource>(sp => new PostgresFencingTokenSource(dataSource(sp)));
        return services;
    }
}
