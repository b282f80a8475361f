using System.Diagnostics.Metrics;

namespace Scaling.Cache;

/// <summary>
/// The instruments of meter <c>Scaling.Cache</c>: hits, misses and stale values served per tier, factory
/// calls, backplane messages and L1 flushes, Redis failures, and calls with an invalid key.
/// </summary>
internal sealed class CacheInstruments : IDisposable
{
    /// <summary>The meter's name.</summary>
    internal const string MeterName = "Scaling.Cache";

    private static readonly KeyValuePair<string, object?> L1 = new("tier", "l1");
    private static readonly KeyValuePair<string, object?> L2 = new("tier", "l2");

    private readonly Meter? _ownedMeter;
    private readonly Meter _meter;

    internal CacheInstruments(IMeterFactory? meterFactory)
    {
        var meter = _meter = meterFactory?.Create(MeterName) ?? (_ownedMeter = new Meter(MeterName));
        Hits = meter.CreateCounter<long>("scaling.cache.hits", "{lookup}", "Lookups answered by a fresh value, by tier (l1, l2).");
        Misses = meter.CreateCounter<long>("scaling.cache.misses", "{lookup}", "Lookups that found no fresh value, by tier (l1, l2).");
        Stale = meter.CreateCounter<long>("scaling.cache.stale_served", "{lookup}", "Expired values served by fail-safe, by tier and reason (factory_failed, soft_timeout).");
        FactoryCalls = meter.CreateCounter<long>("scaling.cache.factory.calls", "{call}", "Factory calls, by outcome (success, failed).");
        BackplaneMessages = meter.CreateCounter<long>("scaling.cache.backplane.messages", "{message}", "Backplane messages, by direction (sent, received).");
        OutOfOrder = meter.CreateCounter<long>("scaling.cache.backplane.out_of_order", "{message}", "Backplane messages that arrived after a later message of the same publisher (0 while messages are read in order).");
        Flushes = meter.CreateCounter<long>("scaling.cache.backplane.flushes", "{flush}", "L1 flushes because invalidations may have been missed, by reason (gap, reconnect).");
        DistributedErrors = meter.CreateCounter<long>("scaling.cache.l2.errors", "{operation}", "Redis operations that failed or timed out, by operation; skipped operations (breaker open) are not counted.");
        InvalidKeys = meter.CreateCounter<long>("scaling.cache.keys.invalid", "{operation}", "Calls with an invalid key (or RemoveByTagAsync with an invalid tag) that bypassed the cache, by operation (get_or_create, set, remove, remove_by_tag) and reason (empty, too_long, invalid_character).");
        Corrupt = meter.CreateCounter<long>("scaling.cache.l2.corrupt", "{value}", "L2 values that could not be read (bad envelope or payload) and were treated as misses.");
    }

    internal Counter<long> Hits { get; }

    internal Counter<long> Misses { get; }

    internal Counter<long> Stale { get; }

    internal Counter<long> FactoryCalls { get; }

    internal Counter<long> BackplaneMessages { get; }

    internal Counter<long> OutOfOrder { get; }

    internal Counter<long> Flushes { get; }

    internal Counter<long> DistributedErrors { get; }

    internal Counter<long> Corrupt { get; }

    internal Counter<long> InvalidKeys { get; }

    /// <summary>Publishes <c>scaling.cache.l2.degraded</c>: 1 while <paramref name="isDegraded"/> says Redis is treated as unavailable.</summary>
    internal void ObserveRedis(Func<bool> isDegraded) =>
        _meter.CreateObservableGauge(
            "scaling.cache.l2.degraded", () => isDegraded() ? 1 : 0, "{state}", "1 while Redis (L2 and the backplane) is treated as unavailable (circuit breaker open or probing, or not connected): lookups skip L2, else 0.");

    internal void InvalidKey(string operation, string reason) =>
        InvalidKeys.Add(1, new KeyValuePair<string, object?>("operation", operation), new KeyValuePair<string, object?>("reason", reason));

    internal void Hit(bool local)
    {
        if (Hits.Enabled)
        {
            Hits.Add(1, local ? L1 : L2);
        }
    }

    internal void Miss(bool local)
    {
        if (Misses.Enabled)
        {
            Misses.Add(1, local ? L1 : L2);
        }
    }

    internal void StaleServed(bool local, string reason) =>
        Stale.Add(1, local ? L1 : L2, new KeyValuePair<string, object?>("reason", reason));

    public void Dispose() => _ownedMeter?.Dispose();
}
