namespace Scaling.Cache;

/// <summary>
/// A value in L1 with its logical lifetime. Times are <see cref="Environment.TickCount64"/> milliseconds (the
/// cheapest clock there is, read on every hit). The memory cache keeps the entry past <see cref="ExpiresAt"/>
/// (until the fail-safe window ends) so that a failed refresh can still serve it.
/// </summary>
internal sealed class LocalEntry<T>(T value, long expiresAt, long refreshAt, long staleUntil, TagStamp[]? tags)
{
    private int _refreshing;

    internal T Value { get; } = value;

    /// <summary>Fresh until then.</summary>
    internal long ExpiresAt { get; } = expiresAt;

    /// <summary>A hit from then on starts an eager refresh (<see cref="long.MaxValue"/>: never).</summary>
    internal long RefreshAt { get; } = refreshAt;

    /// <summary>Fail-safe may serve it until then.</summary>
    internal long StaleUntil { get; } = staleUntil;

    internal TagStamp[]? Tags { get; } = tags;

    /// <summary>True once, for the hit that starts the eager refresh.</summary>
    internal bool TryStartRefresh() => Interlocked.Exchange(ref _refreshing, 1) == 0;
}
