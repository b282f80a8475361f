using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Scaling.Data.Partitions;

/// <summary>The hosted partition maintenance: runs <see cref="PartitionMaintainer.RunAsync"/> over the configured tables while the host runs.</summary>
/// <param name="maintainer">The maintainer (on the primary of the registered <see cref="ReadWriteDataSource"/>).</param>
/// <param name="options">The tables and the interval.</param>
public sealed class PartitionMaintenanceService(PartitionMaintainer maintainer, IOptions<PartitionMaintenanceOptions> options) : BackgroundService
{
    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
        => maintainer.RunAsync(options.Value.Tables.ToArray(), options.Value.Interval, stoppingToken);
}
