using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Scaling.Tenancy;

/// <summary>
/// The instruments of the <c>Scaling.Tenancy</c> meter. A <see cref="Sharding.ShardMap"/> gets its meter from
/// <see cref="IMeterFactory"/> (or creates its own, disposed with it); its router, mover and fan-out queries record on
/// the map's instruments. The instruments are created once per meter, so maps that share a factory share them.
/// </summary>
internal sealed class TenancyInstruments
{
    /// <summary>The meter's name.</summary>
    internal const string MeterName = "Scaling.Tenancy";

    private static readonly ConditionalWeakTable<Meter, TenancyInstruments> ByMeter = [];

    private TenancyInstruments(Meter meter)
    {
        MapLoads = meter.CreateCounter<long>(
            "scaling.tenancy.map.loads", "{load}", "Loads of the shard map from the metadata database, by reason (startup, push, periodic, stale_route, unknown_tenant, change) and outcome.");
        StaleRoutes = meter.CreateCounter<long>(
            "scaling.tenancy.routes.stale", "{route}", "Routes made from a stale map that the shard refused (the shard does not own the tenant) and that were corrected by a refresh.");
        Unavailable = meter.CreateCounter<long>(
            "scaling.tenancy.unavailable", "{request}", "Tenant transactions refused with a retryable TenantUnavailableException, by reason.");
        MoveWritePause = meter.CreateHistogram<double>("scaling.tenancy.move.write_pause", "s", "How long a tenant move kept the tenant's writes fenced.");
        Moves = meter.CreateCounter<long>("scaling.tenancy.moves", "{move}", "Tenant moves, by outcome (completed, rolled_back).");
        FanOutShardFailures = meter.CreateCounter<long>(
            "scaling.tenancy.fanout.shard_failures", "{shard}", "Shards that failed or timed out in a fan-out query.");
    }

    internal Counter<long> MapLoads { get; }

    internal Counter<long> StaleRoutes { get; }

    internal Counter<long> Unavailable { get; }

    internal Histogram<double> MoveWritePause { get; }

    internal Counter<long> Moves { get; }

    internal Counter<long> FanOutShardFailures { get; }

    /// <summary>The instruments of <paramref name="meter"/>, created on first use.</summary>
    internal static TenancyInstruments For(Meter meter) => ByMeter.GetValue(meter, static m => new TenancyInstruments(m));

    internal static TagList Tag(string key, object? value) => new() { { key, value } };

    internal static TagList Tags(string key1, object? value1, string key2, object? value2) => new() { { key1, value1 }, { key2, value2 } };
}
