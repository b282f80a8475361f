using System.Diagnostics.Metrics;

namespace BookingHost.Realtime;

/// <summary>The <c>BookingHost.Realtime</c> meter and its instruments (exported by <c>/metrics</c> with the other <c>BookingHost.*</c> meters).</summary>
public static class RealtimeInstruments
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "BookingHost.Realtime";

    private static readonly Meter Meter = new(MeterName, typeof(RealtimeInstruments).Assembly.GetName().Version?.ToString());

    internal static readonly UpDownCounter<long> Connections = Meter.CreateUpDownCounter<long>(
        "bookinghost.realtime.connections", "{connection}", "Open event streams on this instance.");

    internal static readonly Counter<long> Published = Meter.CreateCounter<long>(
        "bookinghost.realtime.events.published", "{event}", "Events published to Redis by this instance.");

    internal static readonly Counter<long> PublishFailures = Meter.CreateCounter<long>(
        "bookinghost.realtime.publish.failures", "{event}", "Events that could not be published to Redis, by reason (disconnected, timeout, error, invalid); local clients still got them.");

    internal static readonly Counter<long> Received = Meter.CreateCounter<long>(
        "bookinghost.realtime.events.received", "{event}", "Events received from other instances over Redis.");

    internal static readonly Counter<long> Delivered = Meter.CreateCounter<long>(
        "bookinghost.realtime.events.delivered", "{event}", "Events written and flushed to a client's stream (one per client).");

    internal static readonly Counter<long> Dropped = Meter.CreateCounter<long>(
        "bookinghost.realtime.events.dropped", "{event}", "Events dropped because a client's buffer was full (the client is then disconnected).");

    internal static readonly Counter<long> Disconnected = Meter.CreateCounter<long>(
        "bookinghost.realtime.disconnects", "{connection}", "Streams ended by the server, by reason (overflow, shutdown).");

    internal static readonly Histogram<double> DeliveryLatency = Meter.CreateHistogram<double>(
        "bookinghost.realtime.delivery.latency", "ms", "From the event's occurredAt to its flush on a client's stream.", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000] });
}
