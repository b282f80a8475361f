namespace Scaling.Data.Partitions;

/// <summary>What one maintenance run did to one table.</summary>
/// <param name="Table">The partitioned table.</param>
/// <param name="Created">Partitions created (names).</param>
/// <param name="Detached">Partitions detached because they were past retention.</param>
/// <param name="Dropped">Detached partitions dropped.</param>
public sealed record PartitionMaintenanceResult(
    string Table,
    IReadOnlyList<string> Created,
    IReadOnlyList<string> Detached,
    IReadOnlyList<string> Dropped);
