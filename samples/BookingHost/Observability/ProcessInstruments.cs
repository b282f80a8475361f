using System.Diagnostics.Metrics;

namespace BookingHost.Observability;

/// <summary>
/// What the memory alerts compare the process with (meter <c>BookingHost.Process</c>): .NET's own runtime meter gives
/// the working set and the CPU count, but not how much memory the process may use.
/// </summary>
public static class ProcessInstruments
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "BookingHost.Process";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>
    /// The memory the process may use: the container's limit when there is one, else the machine's physical memory
    /// (the garbage collector's <see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>).
    /// </summary>
    public static readonly ObservableGauge<long> MemoryLimit = Meter.CreateObservableGauge(
        "bookinghost.process.memory.limit",
        () => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes,
        "By",
        "The memory the process may use: the container's limit, else the machine's physical memory.");
}
