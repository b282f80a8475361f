using System.Diagnostics;

namespace Scaling;

/// <summary>
/// A small lock-free circuit breaker in front of Redis: closed, it lets every call through; after
/// <c>threshold</c> consecutive failures it opens and lets nothing through (a check then costs a field read)
/// until the break duration has passed, when it lets exactly one probe call through (half-open). The probe's
/// success closes it; its failure opens it again. Shared as source by the packages that talk to Redis
/// (Scaling.Cache, Scaling.RateLimit).
/// </summary>
internal sealed class RedisCircuitBreaker
{
    private const int Closed = 0;
    private const int Open = 1;
    private const int HalfOpen = 2;

    private int _state;
    private int _consecutiveFailures;
    private long _openedAt;
    private long _degradedSince;
    private long _degradedTicksTotal;

    /// <summary>Whether Redis is currently treated as unavailable (open or probing).</summary>
    internal bool IsDegraded => Volatile.Read(ref _state) != Closed;

    /// <summary>The total time spent degraded, including the current period.</summary>
    internal TimeSpan DegradedTime
    {
        get
        {
            var total = Interlocked.Read(ref _degradedTicksTotal);
            var since = Interlocked.Read(ref _degradedSince);
            return TimeSpan.FromTicks(total) + (since != 0 && IsDegraded ? Stopwatch.GetElapsedTime(since) : TimeSpan.Zero);
        }
    }

    /// <summary>Returns true when a call may go to Redis (closed, or this caller is the half-open probe).</summary>
    internal bool TryEnter(TimeSpan breakDuration)
    {
        var state = Volatile.Read(ref _state);
        if (state == Closed)
        {
            return true;
        }

        return state == Open
            && Stopwatch.GetElapsedTime(Interlocked.Read(ref _openedAt)) >= breakDuration
            && Interlocked.CompareExchange(ref _state, HalfOpen, Open) == Open;
    }

    /// <summary>Records a successful call; returns the degraded period it ends, if it closed the breaker.</summary>
    internal TimeSpan? OnSuccess()
    {
        Volatile.Write(ref _consecutiveFailures, 0);
        if (Volatile.Read(ref _state) == Closed || Interlocked.Exchange(ref _state, Closed) == Closed)
        {
            return null;
        }

        var since = Interlocked.Exchange(ref _degradedSince, 0);
        if (since == 0)
        {
            return null;
        }

        var degraded = Stopwatch.GetElapsedTime(since);
        Interlocked.Add(ref _degradedTicksTotal, degraded.Ticks);
        return degraded;
    }

    /// <summary>Records a failed call; returns true when this failure opened the breaker from closed.</summary>
    internal bool OnFailure(int threshold)
    {
        var failures = Interlocked.Increment(ref _consecutiveFailures);
        var state = Volatile.Read(ref _state);
        if (state == HalfOpen)
        {
            Interlocked.Exchange(ref _openedAt, Stopwatch.GetTimestamp());
            Interlocked.CompareExchange(ref _state, Open, HalfOpen);
            return false;
        }

        if (state == Closed && failures >= threshold)
        {
            Interlocked.Exchange(ref _openedAt, Stopwatch.GetTimestamp());
            if (Interlocked.CompareExchange(ref _state, Open, Closed) == Closed)
            {
                Interlocked.Exchange(ref _degradedSince, Stopwatch.GetTimestamp());
                return true;
            }
        }

        return false;
    }

    /// <summary>The half-open probe was abandoned (its caller cancelled): open again, so that the next call probes at once.</summary>
    internal void AbandonProbe() => Interlocked.CompareExchange(ref _state, Open, HalfOpen);
}
