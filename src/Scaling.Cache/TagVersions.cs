using System.Collections.Concurrent;

namespace Scaling.Cache;

/// <summary>
/// The current version of every tag that was ever invalidated (absent means version 0). Invalidating a tag
/// increments its version in Redis and announces it on the backplane; an entry stamped with an older version
/// of any of its tags is treated as missing in both tiers. This is what makes <c>RemoveByTagAsync</c> O(1)
/// and visible on every instance, including one that reads the entry from L2 later.
/// </summary>
internal sealed class TagVersions
{
    private readonly ConcurrentDictionary<string, long> _versions = new(StringComparer.Ordinal);

    internal long Current(string tag) => _versions.TryGetValue(tag, out var version) ? version : 0;

    /// <summary>True when no tag of <paramref name="stamps"/> was invalidated after the stamp was taken.</summary>
    internal bool AreCurrent(TagStamp[]? stamps)
    {
        if (stamps is null)
        {
            return true;
        }

        foreach (var stamp in stamps)
        {
            if (_versions.TryGetValue(stamp.Tag, out var version) && version > stamp.Version)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Stamps the distinct tags with their current versions; null when there are none.</summary>
    internal TagStamp[]? Stamp(List<string>? tags)
    {
        if (tags is null || tags.Count == 0)
        {
            return null;
        }

        var stamps = new TagStamp[tags.Count];
        for (var i = 0; i < stamps.Length; i++)
        {
            stamps[i] = new TagStamp(tags[i], Current(tags[i]));
        }

        return stamps;
    }

    /// <summary>
    /// Invalidates <paramref name="tag"/> on this instance only (Redis unavailable): one version past the newest seen,
    /// so every entry stamped before is a miss here. When Redis answers again, the replayed increment reaches the
    /// shared version to the same number or a later one; versions never go back.
    /// </summary>
    internal void AdvanceLocally(string tag) =>
        _versions.AddOrUpdate(tag, 1, static (_, current) => current + 1);

    /// <summary>Records that <paramref name="tag"/> reached <paramref name="version"/> (versions never go back).</summary>
    internal void Advance(string tag, long version) =>
        _versions.AddOrUpdate(tag, version, (_, current) => Math.Max(current, version));
}
