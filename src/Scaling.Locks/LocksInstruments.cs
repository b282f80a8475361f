using System.Diagnostics.Metrics;

namespace Scaling.Locks;

/// <summary>
/// The instruments of meter <c>Scaling.Locks</c>: acquisition latency by outcome, attempts by status,
/// contention (Conflicted attempts), extensions and lost locks.
/// </summary>
internal sealed class LocksInstruments : IDisposable
{
    /// <summary>The meter's name.</summary>
    internal const string MeterName = "Scaling.Locks";

    private readonly Meter? _ownedMeter;

    internal LocksInstruments(IMeterFactory? meterFactory)
    {
        var meter = meterFactory?.Create(MeterName) ?? (_ownedMeter = new Meter(MeterName));

        AcquireDuration = meter.CreateHistogram<double>(
            "scaling.locks.acquire.duration", "s", "Time an acquisition took, from the call to the result, by outcome (acquired, no_quorum, conflicted, cancelled, failed).");
        Attempts = meter.CreateCounter<long>("scaling.locks.attempts", "{attempt}", "Acquisition attempts (one round of SET NX on every master), by status.");
        Contention = meter.CreateCounter<long>("scaling.locks.contention", "{attempt}", "Attempts that found the resource held by another owner (status Conflicted).");
        Extensions = meter.CreateCounter<long>("scaling.locks.extensions", "{extension}", "Extensions, by result (extended, failed).");
        Lost = meter.CreateCounter<long>("scaling.locks.lost", "{lock}", "Locks lost while held: an extension found them gone, or their validity ran out.");
    }

    internal Histogram<double> AcquireDuration { get; }

    internal Counter<long> Attempts { get; }

    internal Counter<long> Contention { get; }

    internal Counter<long> Extensions { get; }

    internal Counter<long> Lost { get; }

    internal static string StatusTag(LockAttemptStatus status) => status switch
    {
        LockAttemptStatus.Acquired => "acquired",
        LockAttemptStatus.Conflicted => "conflicted",
        _ => "no_quorum",
    };

    public void Dispose() => _ownedMeter?.Dispose();
}
