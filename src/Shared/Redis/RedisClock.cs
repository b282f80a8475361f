using System.Diagnostics;
using StackExchange.Redis;

// BookingHost links this file too; there it lives in its own namespace, so that no type of the host has the same
// documentation id as a package's internal one (ASP.NET Core's OpenAPI XML comment generator fails on such pairs).
#if BOOKINGHOST
namespace BookingHost.Infrastructure;
#else
namespace Scaling;
#endif

/// <summary>
/// Redis's clock as seen from this process: the offset of Redis's <c>TIME</c> from the local clock, measured with one
/// round trip (the midpoint rule, so the error is at most half of that round trip) when the multiplexer is made, then
/// again in the background once a minute and after a reconnect. Used to put a deadline on writes in Redis's own clock
/// (see <see cref="RedisDeadline"/>), whatever the skew between the two machines. A measurement whose round trip took
/// more than 20 ms (a busy process or server) is not used: its error would eat the deadline's budget, and every write
/// would be refused as late. Until a first usable measurement the clocks are taken to agree. Shared as source by the
/// packages that talk to Redis.
/// </summary>
internal sealed class RedisClock
{
    private const string TimeScript = "return redis.call('TIME')";
    private static readonly TimeSpan Remeasure = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan RetryAfterUnusable = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MaxUsableRoundTrip = TimeSpan.FromMilliseconds(20);

    private Measurement? _measurement;
    private long _lastAttempt;
    private int _measuring;

    /// <summary>
    /// The deadline, in milliseconds since the Unix epoch on Redis's clock, of a write whose caller waits
    /// <paramref name="budget"/> from now: earlier by the measurement's error, so that a write Redis runs at or before
    /// it ran before the caller gave up.
    /// </summary>
    internal long Deadline(TimeSpan budget)
    {
        var measurement = Volatile.Read(ref _measurement);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        return measurement is null
            ? now + (long)budget.TotalMilliseconds
            : now + measurement.OffsetMilliseconds - measurement.ErrorMilliseconds + (long)budget.TotalMilliseconds;
    }

    /// <summary>Measures again in the background if the last measurement is more than a minute old (or missing).</summary>
    internal void RefreshIfStale(IConnectionMultiplexer connection, TimeSpan timeout)
    {
        var measurement = Volatile.Read(ref _measurement);
        if ((measurement is null || Stopwatch.GetElapsedTime(measurement.TakenAt) > Remeasure)
            && Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastAttempt)) > RetryAfterUnusable)
        {
            _ = MeasureAsync(connection, timeout);
        }
    }

    /// <summary>Forgets the measurement's age (after a reconnect), so the next write measures again.</summary>
    internal void Invalidate()
    {
        if (Volatile.Read(ref _measurement) is { } measurement)
        {
            Volatile.Write(ref _measurement, measurement with { TakenAt = 0 });
        }
    }

    /// <summary>Measures the offset (one <c>TIME</c>, through a script, as the deadline checks read it); a failure keeps the last measurement.</summary>
    internal async Task MeasureAsync(IConnectionMultiplexer connection, TimeSpan timeout)
    {
        if (Interlocked.Exchange(ref _measuring, 1) == 1)
        {
            return;
        }

        try
        {
            Interlocked.Exchange(ref _lastAttempt, Stopwatch.GetTimestamp());
            if (!connection.IsConnected)
            {
                return;
            }

            var sent = DateTimeOffset.UtcNow;
            var started = Stopwatch.GetTimestamp();
            var reply = (RedisResult[])(await connection.GetDatabase().ScriptEvaluateAsync(TimeScript).WaitAsync(timeout).ConfigureAwait(false))!;
            var roundTrip = Stopwatch.GetElapsedTime(started);
            if (roundTrip > MaxUsableRoundTrip)
            {
                return; // too uncertain: keep the last usable measurement, try again later
            }

            var redisMicros = (long.Parse((string)reply[0]!, System.Globalization.CultureInfo.InvariantCulture) * 1_000_000)
                + long.Parse((string)reply[1]!, System.Globalization.CultureInfo.InvariantCulture);
            var localMidpointMicros = (sent.ToUnixTimeMilliseconds() * 1000) + (long)(roundTrip.TotalMicroseconds / 2);
            Volatile.Write(ref _measurement, new Measurement(
                (long)Math.Round((redisMicros - localMidpointMicros) / 1000.0),
                (long)Math.Ceiling((roundTrip.TotalMilliseconds / 2) + 1), // + 1: both clocks are read to the millisecond
                Stopwatch.GetTimestamp()));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException or InvalidCastException or FormatException or OverflowException)
        {
            // Not connected or not answering: the last measurement stands (or none), and the next write tries again.
        }
        finally
        {
            Volatile.Write(ref _measuring, 0);
        }
    }

    private sealed record Measurement(long OffsetMilliseconds, long ErrorMilliseconds, long TakenAt);
}
