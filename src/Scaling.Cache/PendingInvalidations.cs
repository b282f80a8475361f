using System.Collections.Concurrent;

namespace Scaling.Cache;

/// <summary>
/// Invalidations that could not reach Redis (it was down): replayed when it is back, so another instance never
/// reads from L2 a value this one replaced or removed while Redis was away. Bounded; past the bound the replay
/// is a flush of every instance's L1 instead.
/// </summary>
internal sealed class PendingInvalidations(int capacity = 10_000)
{
    private readonly ConcurrentDictionary<string, byte> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _tags = new(StringComparer.Ordinal);
    private int _overflowed;

    internal bool IsEmpty => _keys.IsEmpty && _tags.IsEmpty && Volatile.Read(ref _overflowed) == 0;

    internal void AddKey(string key) => Add(_keys, key);

    internal void AddTag(string tag) => Add(_tags, tag);

    /// <summary>Takes everything pending (what fails to replay is added again).</summary>
    internal (List<string> Keys, List<string> Tags, bool Overflowed) Take()
    {
        var keys = Drain(_keys);
        var tags = Drain(_tags);
        return (keys, tags, Interlocked.Exchange(ref _overflowed, 0) == 1);
    }

    internal void MarkOverflowed() => Volatile.Write(ref _overflowed, 1);

    private static List<string> Drain(ConcurrentDictionary<string, byte> set)
    {
        var items = new List<string>();
        foreach (var item in set.Keys)
        {
            if (set.TryRemove(item, out _))
            {
                items.Add(item);
            }
        }

        return items;
    }

    private void Add(ConcurrentDictionary<string, byte> set, string item)
    {
        if (set.Count >= capacity)
        {
            MarkOverflowed();
            return;
        }

        set.TryAdd(item, 0);
    }
}
