using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Scaling.Tenancy;

/// <summary>The <c>Scaling.Tenancy</c> meter and its instruments, shared by every shard map and router in the process.</summary>
internal static class TenancyInstruments
{
    public const string MeterName = "Scaling.Tenancy";

    public static readonly Meter Meter = new(MeterName, typeof(TenancyInstruments).Assembly.GetName().Version?.ToString());

    public static readonly Counter<long> MapLoads = Meter.CreateCounter<long>(
        "scaling.tenancy.map.loads", "{load}", "Loads of the shard map from the metadata database, by reason (startup, push, periodic, stale_route, unknown_tenant, change) and outcome.");

    public static readonly Counter<long> StaleRoutes = Meter.CreateCounter<long>(
        "scaling.tenancy.routes.stale", "{route}", "Routes made from a stale map that the shard refused (the shard does not own the tenant) and that were corrected by a refresh.");

    public static readonly Counter<long> Unavailable = Meter.CreateCounter<long>(
        "scaling.tenancy.unavailable", "{request}", "Tenant transactions refused with a retryable TenantUnavailableException, by reason.");

    public static readonly Histogram<double> MoveWritePause = Meter.CreateHistogram<double>(
        "scaling.tenancy.move.write_pause", "s", "How long a tenant move kept the tenant's writes fenced.");

    public static readonly Counter<long> Moves = Meter.CreateCounter<long>(
        "scaling.tenancy.moves", "{move}", "Tenant moves, by outcome (completed, rolled_back).");

    public static readonly Counter<long> FanOutShardFailures = Meter.CreateCounter<long>(
        "scaling.tenancy.fanout.shard_failures", "{shard}", "Shards that failed or timed out in a fan-out query.");

    public static TagList Tag(string key, object? value) => new() { { key, value } };

    public static TagList Tags(string key1, object? value1, string key2, object? value2) => new() { { key1, value1 }, { key2, value2 } };
}
