using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Scaling.Data;
using Scaling.Data.Partitions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Scaling.Data in a service collection.</summary>
public static class ScalingDataServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="ReadWriteDataSource"/> built from <see cref="ScalingDataOptions"/> (validated
    /// on host start-up, failing with messages that name each bad option), the hosted replica health monitor
    /// (<see cref="ReplicaHealthMonitorService"/>) and <see cref="ReadWriteDataSourceHealthCheck"/> for
    /// <c>AddHealthChecks().AddCheck&lt;ReadWriteDataSourceHealthCheck&gt;(...)</c>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options (connection strings, lag thresholds, check interval, ...).</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddScalingData(this IServiceCollection services, Action<ScalingDataOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<ScalingDataOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ScalingDataOptions>, ScalingDataOptionsValidator>());
        services.TryAddSingleton(sp => new ReadWriteDataSource(
            sp.GetRequiredService<IOptions<ScalingDataOptions>>(),
            sp.GetService<ILoggerFactory>(),
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>(),
            sp.GetService<TimeProvider>()));
        services.TryAddSingleton<ReadWriteDataSourceHealthCheck>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, ReplicaHealthMonitorService>());
        return services;
    }

    /// <summary>
    /// Registers <see cref="PartitionMaintainer"/> on the primary of the registered <see cref="ReadWriteDataSource"/>
    /// (call <see cref="AddScalingData"/> too) and the hosted <see cref="PartitionMaintenanceService"/> that keeps the
    /// declared tables' monthly partitions at start-up and every <see cref="PartitionMaintenanceOptions.Interval"/>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Declares the tables (and the interval).</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddScalingPartitionMaintenance(this IServiceCollection services, Action<PartitionMaintenanceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<PartitionMaintenanceOptions>()
            .Configure(configure)
            .Validate(o => o.Interval >= TimeSpan.FromSeconds(1), "PartitionMaintenanceOptions.Interval must be at least 1 second.")
            .Validate(o => o.Tables.Count > 0, "PartitionMaintenanceOptions.Tables is empty: declare at least one partitioned table.")
            .ValidateOnStart();
        services.TryAddSingleton(sp => new PartitionMaintainer(
            sp.GetRequiredService<ReadWriteDataSource>().Primary,
            sp.GetService<ILogger<PartitionMaintainer>>(),
            sp.GetService<TimeProvider>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, PartitionMaintenanceService>());
        return services;
    }
}
