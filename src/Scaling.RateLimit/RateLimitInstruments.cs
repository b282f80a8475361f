using System.Diagnostics.Metrics;

namespace Scaling.RateLimit;

/// <summary>
/// The instruments of meter <c>Scaling.RateLimit</c>: decisions by outcome, tier and rejecting policy; check
/// latency by store; whether Redis is degraded, and the total time spent degraded.
/// </summary>
internal sealed class RateLimitInstruments : IDisposable
{
    /// <summary>The meter's name.</summary>
    internal const string MeterName = "Scaling.RateLimit";

    private readonly Meter? _ownedMeter;

    internal RateLimitInstruments(IMeterFactory? meterFactory, Func<bool> isDegraded, Func<TimeSpan> degradedTime)
    {
        var meter = meterFactory?.Create(MeterName) ?? (_ownedMeter = new Meter(MeterName));

        Decisions = meter.CreateCounter<long>(
            "scaling.ratelimit.decisions", "{request}", "Rate-limit decisions, by outcome (allowed, rejected), tier, rejecting policy (policy, empty when allowed) and degraded (true while Redis is unavailable).");
        CheckDuration = meter.CreateHistogram<double>(
            "scaling.ratelimit.check.duration", "s", "Time one check took, by store (redis: one script call; reserved: from permits this instance reserved in Redis; local: in-process fallback; none: failure mode only).");
        meter.CreateObservableGauge(
            "scaling.ratelimit.degraded", () => isDegraded() ? 1 : 0, "{state}", "1 while Redis is treated as unavailable (circuit breaker open or probing) and policies apply their failure modes, else 0.");
        meter.CreateObservableCounter(
            "scaling.ratelimit.degraded.time", () => degradedTime().TotalSeconds, "s", "Total time spent degraded since start.");
    }

    internal Counter<long> Decisions { get; }

    internal Histogram<double> CheckDuration { get; }

    public void Dispose() => _ownedMeter?.Dispose();
}
