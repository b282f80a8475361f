namespace Scaling.Data.Partitions;

/// <summary>Options of the hosted partition maintenance (<c>services.AddScalingPartitionMaintenance(...)</c>).</summary>
public sealed class PartitionMaintenanceOptions
{
    /// <summary>The tables to maintain.</summary>
    public IList<PartitionedTable> Tables { get; } = new List<PartitionedTable>();

    /// <summary>How often maintenance runs (it also runs once at start-up). Default 1 hour; at least 1 second.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);
}
