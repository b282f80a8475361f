using System.Collections.Concurrent;
using System.Diagnostics;

namespace Scaling.RateLimit;

/// <summary>
/// On a Redis Cluster, one circuit breaker per hash slot instead of one for the limiter: a master that is down (or failing
/// over) degrades the partitions whose slots it serves, and only those; partitions on the healthy masters keep deciding
/// on Redis, and a probe that succeeds on a healthy master closes nothing it did not open. The limiter-wide view (the
/// <c>degraded</c> gauge, the degraded time) is "some slot is degraded".
/// </summary>
internal sealed class SlotBreakers
{
    private readonly ConcurrentDictionary<int, RedisCircuitBreaker> _bySlot = new();
    private int _open;
    private long _degradedSince;
    private long _degradedTicksTotal;

    /// <summary>True while the breaker of at least one slot is open or probing.</summary>
    internal bool IsDegraded => Volatile.Read(ref _open) > 0;

    /// <summary>The total time during which at least one slot was degraded, including the current period.</summary>
    internal TimeSpan DegradedTime
    {
        get
        {
            var since = Interlocked.Read(ref _degradedSince);
            return TimeSpan.FromTicks(Interlocked.Read(ref _degradedTicksTotal))
                + (since != 0 && IsDegraded ? Stopwatch.GetElapsedTime(since) : TimeSpan.Zero);
        }
    }

    /// <summary>The breaker of a slot (created closed on first use).</summary>
    internal RedisCircuitBreaker For(int slot) => _bySlot.GetOrAdd(slot, static _ => new RedisCircuitBreaker());

    /// <summary>Told when a slot's breaker opened from closed.</summary>
    internal void Opened()
    {
        if (Interlocked.Increment(ref _open) == 1)
        {
            Interlocked.Exchange(ref _degradedSince, Stopwatch.GetTimestamp());
        }
    }

    /// <summary>Told when a slot's breaker closed again.</summary>
    internal void Closed()
    {
        if (Interlocked.Decrement(ref _open) == 0 && Interlocked.Exchange(ref _degradedSince, 0) is var since and not 0)
        {
            Interlocked.Add(ref _degradedTicksTotal, Stopwatch.GetElapsedTime(since).Ticks);
        }
    }
}
