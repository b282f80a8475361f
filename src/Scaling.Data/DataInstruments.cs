using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Scaling.Data;

/// <summary>
/// The instruments of the <c>Scaling.Data</c> meter. A data source gets its meter from <see cref="IMeterFactory"/>
/// (or creates its own, disposed with it); the instruments are created once per meter and shared by every
/// <see cref="ReadWriteDataSource"/> on that meter (the factory hands the same meter to all of them), each measurement
/// carrying the data source's name. The replica gauges observe the data sources live on the meter.
/// </summary>
internal sealed class DataInstruments
{
    /// <summary>The meter's name.</summary>
    internal const string MeterName = "Scaling.Data";

    private static readonly ConditionalWeakTable<Meter, DataInstruments> ByMeter = [];

    private readonly ConcurrentDictionary<ReadWriteDataSource, byte> _live = new();

    private DataInstruments(Meter meter)
    {
        CommandDuration = meter.CreateHistogram<double>(
            "scaling.data.command.duration", "s", "Duration of commands run on a data source's connections, by server role.");
        Reads = meter.CreateCounter<long>("scaling.data.reads", "{read}", "Reads routed, by the role of the server that took them.");
        Fallbacks = meter.CreateCounter<long>(
            "scaling.data.read.fallbacks", "{read}", "Reads that went to the primary although replicas are configured, by reason.");
        Rejections = meter.CreateCounter<long>(
            "scaling.data.read.rejections", "{read}", "Reads shed because the primary already ran the maximum of fallback reads.");
        Ejections = meter.CreateCounter<long>("scaling.data.replica.ejections", "{ejection}", "Replicas taken out of read routing, by reason.");
        Readmissions = meter.CreateCounter<long>("scaling.data.replica.readmissions", "{readmission}", "Ejected replicas put back into read routing.");
        Retries = meter.CreateCounter<long>("scaling.data.retries", "{retry}", "Retries after a transient failure, by operation (read, write, open).");
        meter.CreateObservableGauge("scaling.data.replica.lag.bytes", ObserveLagBytes, "By", "WAL bytes a replica's replay is behind the primary.");
        meter.CreateObservableGauge("scaling.data.replica.lag.time", ObserveLagSeconds, "s", "How far a replica's replay is behind in time.");
        meter.CreateObservableGauge("scaling.data.replica.healthy", ObserveHealthy, "{replica}", "1 while a replica takes reads, 0 while it is ejected.");
    }

    internal Histogram<double> CommandDuration { get; }

    internal Counter<long> Reads { get; }

    internal Counter<long> Fallbacks { get; }

    internal Counter<long> Rejections { get; }

    internal Counter<long> Ejections { get; }

    internal Counter<long> Readmissions { get; }

    internal Counter<long> Retries { get; }

    /// <summary>The instruments of <paramref name="meter"/>, created on first use.</summary>
    internal static DataInstruments For(Meter meter) => ByMeter.GetValue(meter, static m => new DataInstruments(m));

    internal static TagList Tags(string dataSource, string key, object? value) => new() { { "data_source", dataSource }, { key, value } };

    internal void Track(ReadWriteDataSource dataSource) => _live.TryAdd(dataSource, 0);

    internal void Untrack(ReadWriteDataSource dataSource) => _live.TryRemove(dataSource, out _);

    private IEnumerable<Measurement<long>> ObserveLagBytes() => Observe(replica => replica.LagBytes);

    private IEnumerable<Measurement<double>> ObserveLagSeconds() => Observe(replica => replica.LagTime?.TotalSeconds);

    private IEnumerable<Measurement<int>> ObserveHealthy() => Observe<int>(replica => replica.Health == ReplicaHealth.Ejected ? 0 : 1);

    /// <summary>One measurement per replica of every live data source on this meter, skipping replicas whose value is unknown.</summary>
    private IEnumerable<Measurement<T>> Observe<T>(Func<DataServer, T?> value)
        where T : struct
    {
        foreach (var dataSource in _live.Keys)
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
