namespace Scaling.Cache;

/// <summary>
/// An entry of L1 (<see cref="LocalTier"/>) with its logical lifetime. Times are <see cref="Environment.TickCount64"/>
/// milliseconds (the cheapest clock there is, read on every hit). L1 keeps the entry past <see cref="ExpiresAt"/>
/// (until <see cref="StaleUntil"/>, the end of the fail-safe window) so that a failed refresh can still serve it.
/// </summary>
internal abstract class LocalEntry(long expiresAt, long refreshAt, long staleUntil, TagStamp[]? tags)
{
    /// <summary>How stale <see cref="LastUsed"/> may get before a hit writes it again: one write per second per hot entry, not one per hit.</summary>
    private const long UseResolution = 1_000;

    private long _lastUsed; // LocalTier.Set stamps it

    /// <summary>Fresh until then.</summary>
    internal long ExpiresAt { get; } = expiresAt;

    /// <summary>A hit from then on starts an eager refresh (<see cref="long.MaxValue"/>: never).</summary>
    internal long RefreshAt { get; } = refreshAt;

    /// <summary>Fail-safe may serve it until then; after it, L1 drops it.</summary>
    internal long StaleUntil { get; } = staleUntil;

    internal TagStamp[]? Tags { get; } = tags;

    /// <summary>When it was last stored or hit, within <see cref="UseResolution"/>: what eviction orders by (least recently used first).</summary>
    internal long LastUsed => Volatile.Read(ref _lastUsed);

    /// <summary>Records a use at <paramref name="now"/>; writes only when the recorded use is a second old (a hot entry's cache line stays shared).</summary>
    internal void Touch(long now)
    {
        if (now - _lastUsed >= UseResolution)
        {
            Volatile.Write(ref _lastUsed, now);
        }
    }

    internal void Stamp(long now) => Volatile.Write(ref _lastUsed, now);
}

/// <summary>An L1 entry holding a value of type <typeparamref name="T"/> (the instance itself: no copy per hit).</summary>
internal sealed class LocalEntry<T>(T value, long expiresAt, long refreshAt, long staleUntil, TagStamp[]? tags)
    : LocalEntry(expiresAt, refreshAt, staleUntil, tags)
{
    private int _refreshing;

    internal T Value { get; } = value;

    /// <summary>True once, for the hit that starts the eager refresh.</summary>
    internal bool TryStartRefresh() => Interlocked.Exchange(ref _refreshing, 1) == 0;
}
