using Microsoft.Extensions.Hosting;

namespace Scaling.Data;

/// <summary>
/// The hosted replica health monitor registered by <c>services.AddScalingData(...)</c>: runs
/// <see cref="ReadWriteDataSource.MonitorAsync"/> on the registered data source while the host runs.
/// </summary>
/// <param name="dataSource">The data source to monitor.</param>
public sealed class ReplicaHealthMonitorService(ReadWriteDataSource dataSource) : BackgroundService
{
    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => dataSource.MonitorAsync(stoppingToken);
}
