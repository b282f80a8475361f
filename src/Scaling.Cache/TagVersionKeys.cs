using System.Globalization;
using StackExchange.Redis;

namespace Scaling.Cache;

/// <summary>
/// Where the tag versions live in Redis: <see cref="BucketCount"/> hashes, <c>{prefix}tag-versions:{n}</c>, a tag in the
/// bucket its name hashes to. Each bucket has its own hash tag, so on a Redis Cluster the versions spread over slots and
/// masters (no single slot holds them all), while one tag's increment stays one single-key script.
/// </summary>
internal static class TagVersionKeys
{
    /// <summary>The number of buckets (fixed: every instance must agree on where a tag lives).</summary>
    internal const int BucketCount = 16;

    /// <summary>The bucket keys for a key prefix, indexed by <see cref="Bucket"/>.</summary>
    internal static RedisKey[] For(string prefix)
    {
        var keys = new RedisKey[BucketCount];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = prefix + "tag-versions:{" + i.ToString(CultureInfo.InvariantCulture) + "}";
        }

        return keys;
    }

    /// <summary>The bucket of <paramref name="tag"/>: FNV-1a over its UTF-16 code units, the same in every process.</summary>
    internal static int Bucket(string tag)
    {
        var hash = 2166136261u;
        foreach (var c in tag)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)(hash % BucketCount);
    }
}
