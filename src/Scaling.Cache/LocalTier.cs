using System.Collections.Concurrent;

namespace Scaling.Cache;

/// <summary>
/// L1: the entries of this instance, in a <see cref="ConcurrentDictionary{TKey, TValue}"/> with a size limit, and nothing
/// else on the hit path. A hit is one dictionary lookup; the caller reads the clock once (<see cref="Environment.TickCount64"/>)
/// for the entry's own times. <c>MemoryCache</c>, which this replaces, also reads the wall clock, checks its expiration
/// tokens and writes the entry's last access on every hit.
/// </summary>
/// <remarks>
/// <para>
/// <b>Size.</b> When a new key takes the count over the limit, that caller evicts down to 90 % of it: first every entry past
/// its fail-safe window, then the least recently used (<see cref="LocalEntry.LastUsed"/>, to the second). Callers adding
/// at the same moment may take the count over the limit by their number until that eviction ends.
/// </para>
/// <para>
/// <b>Expiry.</b> An entry is dropped once its fail-safe window is over (<see cref="LocalEntry.StaleUntil"/>): by a sweep
/// on the thread pool at most once a minute (started by a store), and by every eviction. Until then a lookup may still
/// find it; the caller checks its times.
/// </para>
/// </remarks>
internal sealed class LocalTier
{
    private static readonly long SweepInterval = (long)TimeSpan.FromMinutes(1).TotalMilliseconds;

    private readonly ConcurrentDictionary<string, LocalEntry> _entries = new(StringComparer.Ordinal);
    private readonly long _limit;
    private long _count;
    private long _nextSweep;
    private int _evicting;

    internal LocalTier(long sizeLimit)
    {
        _limit = sizeLimit;
        _nextSweep = Environment.TickCount64 + SweepInterval;
    }

    /// <summary>The number of entries (fresh or kept for fail-safe).</summary>
    internal long Count => Volatile.Read(ref _count);

    internal bool TryGet(string key, out LocalEntry? entry) => _entries.TryGetValue(key, out entry);

    /// <summary>Stores <paramref name="entry"/> under <paramref name="key"/>, replacing any entry it had.</summary>
    internal void Set(string key, LocalEntry entry)
    {
        var now = Environment.TickCount64;
        entry.Stamp(now);
        while (true)
        {
            if (_entries.TryGetValue(key, out var current))
            {
                if (_entries.TryUpdate(key, entry, current))
                {
                    break;
                }
            }
            else if (_entries.TryAdd(key, entry))
            {
                if (Interlocked.Increment(ref _count) > _limit)
                {
                    Evict(now, keep: key);
                }

                break;
            }
        }

        var sweepAt = Volatile.Read(ref _nextSweep);
        if (now >= sweepAt && Interlocked.CompareExchange(ref _nextSweep, now + SweepInterval, sweepAt) == sweepAt)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static tier => tier.Sweep(), this, preferLocal: false);
        }
    }

    internal void Remove(string key)
    {
        if (_entries.TryRemove(key, out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    /// <summary>Removes every entry present when it starts (one by one, so the count stays exact).</summary>
    internal void Clear()
    {
        foreach (var pair in _entries)
        {
            Remove(pair);
        }
    }

    /// <summary>Drops every entry past its fail-safe window.</summary>
    private void Sweep()
    {
        var now = Environment.TickCount64;
        foreach (var pair in _entries)
        {
            if (pair.Value.StaleUntil <= now)
            {
                Remove(pair);
            }
        }
    }

    /// <summary>
    /// Brings the count down to 90 % of the limit: entries past their fail-safe window first, then the least recently
    /// used, found with a histogram of <see cref="LocalEntry.LastUsed"/> (four passes, no sort, no allocation).
    /// One eviction at a time; a caller that finds one running goes on.
    /// </summary>
    private void Evict(long now, string keep)
    {
        if (Interlocked.CompareExchange(ref _evicting, 1, 0) != 0)
        {
            return;
        }

        try
        {
            var target = _limit - Math.Max(1, _limit / 10);
            long oldest = long.MaxValue, newest = long.MinValue;
            foreach (var pair in _entries)
            {
                if (pair.Value.StaleUntil <= now)
                {
                    Remove(pair);
                    continue;
                }

                var used = pair.Value.LastUsed;
                oldest = Math.Min(oldest, used);
                newest = Math.Max(newest, used);
            }

            var excess = Count - target;
            if (excess <= 0 || oldest > newest)
            {
                return;
            }

            const int Buckets = 64;
            var width = ((newest - oldest) / Buckets) + 1;
            Span<long> histogram = stackalloc long[Buckets];
            foreach (var pair in _entries)
            {
                var bucket = (pair.Value.LastUsed - oldest) / width;
                if (bucket is >= 0 and < Buckets)
                {
                    histogram[(int)bucket]++;
                }
            }

            // Every bucket below the cut goes; from the cut's own bucket, as many as still needed.
            var cut = 0;
            for (long below = 0; cut < Buckets - 1 && below + histogram[cut] < excess; cut++)
            {
                below += histogram[cut];
            }

            foreach (var pair in _entries)
            {
                if ((pair.Value.LastUsed - oldest) / width < cut && Remove(pair))
                {
                    excess--;
                }
            }

            foreach (var pair in _entries)
            {
                if (excess <= 0)
                {
                    break;
                }

                if ((pair.Value.LastUsed - oldest) / width == cut && !string.Equals(pair.Key, keep, StringComparison.Ordinal) && Remove(pair))
                {
                    excess--;
                }
            }
        }
        finally
        {
            Volatile.Write(ref _evicting, 0);
        }
    }

    /// <summary>Removes the entry only if it is still <paramref name="pair"/>'s value (a newer store of the key stays).</summary>
    private bool Remove(KeyValuePair<string, LocalEntry> pair)
    {
        if (!_entries.TryRemove(pair))
        {
            return false;
        }

        Interlocked.Decrement(ref _count);
        return true;
    }
}
