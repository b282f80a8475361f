using System.Diagnostics.Metrics;

namespace BookingHost.Reminders;

/// <summary>The <c>BookingHost.Reminders</c> meter and its instruments (exported by <c>/metrics</c> with the other <c>BookingHost.*</c> meters).</summary>
public static class ReminderInstruments
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "BookingHost.Reminders";

    private static readonly Meter Meter = new(MeterName, typeof(ReminderInstruments).Assembly.GetName().Version?.ToString());

    internal static readonly Counter<long> Sent = Meter.CreateCounter<long>(
        "bookinghost.reminders.sent", "{reminder}", "Reminders sent (the job committed as sent).");

    internal static readonly Counter<long> Failed = Meter.CreateCounter<long>(
        "bookinghost.reminders.failed", "{attempt}", "Send attempts that failed and were scheduled for a retry.");

    internal static readonly Counter<long> Dead = Meter.CreateCounter<long>(
        "bookinghost.reminders.dead", "{reminder}", "Reminders dead-lettered after the last attempt failed.");

    internal static readonly Counter<long> PollFailures = Meter.CreateCounter<long>(
        "bookinghost.reminders.poll.failures", "{poll}", "Polls of a shard that failed (shard down, connection lost); the jobs stay pending.");

    internal static readonly Histogram<double> Lag = Meter.CreateHistogram<double>(
        "bookinghost.reminders.lag", "s", "From a reminder's due time to its send.", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600] });
}
