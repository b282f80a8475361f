using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Scaling.Data;

/// <summary>
/// The <c>Scaling.Data</c> meter and its instruments, shared by every <see cref="ReadWriteDataSource"/> in the
/// process (as Npgsql does with its own meter); each measurement carries the data source's name.
/// </summary>
internal static class DataInstruments
{
    public const string MeterName = "Scaling.Data";

    private static readonly ConcurrentDictionary<ReadWriteDataSource, byte> Live = new();

    public static readonly Meter Meter = new(MeterName, typeof(DataInstruments).Assembly.GetName().Version?.ToString());

    public static readonly Histogram<double> CommandDuration = Meter.CreateHistogram<double>(
        "scaling.data.command.duration", "s", "Duration of commands run on a data source's connections, by server role.");

    public static readonly Counter<long> Reads = Meter.CreateCounter<long>(
        "scaling.data.reads", "{read}", "Reads routed, by the role of the server that took them.");

    public static readonly Counter<long> Fallbacks = Meter.CreateCounter<long>(
        "scaling.data.read.fallbacks", "{read}", "Reads that went to the primary although replicas are configured, by reason.");

    public static readonly Counter<long> Rejections = Meter.CreateCounter<long>(
        "scaling.data.read.rejections", "{read}", "Reads shed because the primary already ran the maximum of fallback reads.");

    public static readonly Counter<long> Ejections = Meter.CreateCounter<long>(
        "scaling.data.replica.ejections", "{ejection}", "Replicas taken out of read routing, by reason.");

    public static readonly Counter<long> Readmissions = Meter.CreateCounter<long>(
        "scaling.data.replica.readmissions", "{readmission}", "Ejected replicas put back into read routing.");

    public static readonly Counter<long> Retries = Meter.CreateCounter<long>(
        "scaling.data.retries", "{retry}", "Retries after a transient failure, by operation (read, write, open).");

    static DataInstruments()
    {
        Meter.CreateObservableGauge("scaling.data.replica.lag.bytes", ObserveLagBytes, "By", "WAL bytes a replica's replay is behind the primary.");
        Meter.CreateObservableGauge("scaling.data.replica.lag.time", ObserveLagSeconds, "s", "How far a replica's replay is behind in time.");
        Meter.CreateObservableGauge("scaling.data.replica.healthy", ObserveHealthy, "{replica}", "1 while a replica takes reads, 0 while it is ejected.");
    }

    public static void Track(ReadWriteDataSource dataSource) => Live.TryAdd(dataSource, 0);

    public static void Untrack(ReadWriteDataSource dataSource) => Live.TryRemove(dataSource, out _);

    public static TagList Tags(string dataSource, string key, object? value) => new() { { "data_source", dataSource }, { key, value } };

    private static IEnumerable<Measurement<long>> ObserveLagBytes() => Observe(replica => replica.LagBytes);

    private static IEnumerable<Measurement<double>> ObserveLagSeconds() => Observe(replica => replica.LagTime?.TotalSeconds);

    private static IEnumerable<Measurement<int>> ObserveHealthy() => Observe<int>(replica => replica.Health == ReplicaHealth.Ejected ? 0 : 1);

    /// <summary>One measurement per replica of every live data source, skipping replicas whose value is unknown.</summary>
    private static IEnumerable<Measurement<T>> Observe<T>(Func<DataServer, T?> value)
        where T : struct
    {
        foreach (var dataSource in Live.Keys)
        {
            foreach (var replica in dataSource.Replicas)
            {
                if (value(replica) is { } measured)
                {
                    yield return new Measurement<T>(measured, Tags(dataSource.Name, "replica", replica.Name));
                }
            }
        }
    }
}
