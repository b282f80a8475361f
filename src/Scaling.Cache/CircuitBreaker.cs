namespace Scaling.Cache;

/// <summary>
/// A breaker for Redis: one failure opens it for the break duration, during which every L2 operation is
/// skipped at the cost of one volatile read; then a single probe is let through, and its success closes it.
/// </summary>
internal sealed class CircuitBreaker(TimeSpan breakDuration)
{
    private readonly long _breakMilliseconds = (long)breakDuration.TotalMilliseconds;
    private long _openUntil; // Environment.TickCount64; 0 while closed
    private int _probing;

    internal bool IsOpen => Volatile.Read(ref _openUntil) != 0;

    /// <summary>True when an operation may be tried now (closed, or the one probe of a half-open breaker).</summary>
    internal bool TryEnter()
    {
        var openUntil = Volatile.Read(ref _openUntil);
        if (openUntil == 0)
        {
            return true;
        }

        return Environment.TickCount64 >= openUntil && Interlocked.CompareExchange(ref _probing, 1, 0) == 0;
    }

    /// <summary>Closes the breaker; true when it was open (Redis is back).</summary>
    internal bool RecordSuccess()
    {
        if (Volatile.Read(ref _openUntil) == 0)
        {
            return false;
        }

        var wasOpen = Interlocked.Exchange(ref _openUntil, 0) != 0;
        Volatile.Write(ref _probing, 0);
        return wasOpen;
    }

    /// <summary>Opens (or re-opens) the breaker; true when it was closed.</summary>
    internal bool RecordFailure()
    {
        var wasClosed = Interlocked.Exchange(ref _openUntil, Environment.TickCount64 + _breakMilliseconds) == 0;
        Volatile.Write(ref _probing, 0);
        return wasClosed;
    }
}
