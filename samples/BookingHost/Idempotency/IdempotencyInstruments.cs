using System.Diagnostics.Metrics;

namespace BookingHost.Idempotency;

/// <summary>The idempotency metrics (meter <c>BookingHost.Idempotency</c>).</summary>
public static class IdempotencyInstruments
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "BookingHost.Idempotency";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>Requests with a key, by outcome (<c>executed</c>, <c>replayed</c>, <c>in-progress</c>, <c>mismatch</c>, <c>invalid-key</c>, <c>store-unavailable</c>, <c>not-stored</c>).</summary>
    public static readonly Counter<long> Requests = Meter.CreateCounter<long>("booking.idempotency.requests", description: "Requests with an Idempotency-Key, by outcome");
}
