using System.Diagnostics;

namespace Scaling.Cache;

/// <summary>
/// The spans of the <c>Scaling.Cache</c> <see cref="ActivitySource"/> (named like the meter): the work behind an L1 miss,
/// <c>cache L2 get</c> (the Redis read) and <c>cache factory</c> (the factory call and storing its result). An L1 hit
/// starts no span at all: its path never calls this class. Nothing is allocated or tagged when no listener samples the source.
/// </summary>
internal static class CacheActivities
{
    /// <summary>The source's name: the meter's.</summary>
    internal const string SourceName = CacheInstruments.MeterName;

    /// <summary>The span of an L2 read after an L1 miss.</summary>
    internal const string L2GetSpan = "cache L2 get";

    /// <summary>The span of a factory call (and of writing its result to both tiers).</summary>
    internal const string FactorySpan = "cache factory";

    /// <summary>The source, versioned like the assembly.</summary>
    internal static readonly ActivitySource Source = PackageActivitySource.Create(SourceName, typeof(CacheActivities));

    /// <summary>Starts the span of an L2 read, or returns <see langword="null"/> when nobody listens.</summary>
    internal static Activity? StartL2Get(string key)
    {
        var activity = Source.StartActivity(L2GetSpan, ActivityKind.Internal);
        if (activity is not null)
        {
            activity.SetTag("scaling.cache.key", key);
            activity.SetTag("scaling.cache.tier", "l2");
        }

        return activity;
    }

    /// <summary>
    /// Records what L2 answered: a hit (a fresh value), or a miss; <paramref name="expired"/> when the miss found an
    /// expired value (kept for fail-safe); <paramref name="available"/> false when Redis was skipped or failed (breaker).
    /// </summary>
    internal static void L2Answered(Activity? activity, bool hit, bool expired, bool available)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag("scaling.cache.hit", hit);
        if (expired)
        {
            activity.SetTag("scaling.cache.l2.expired", true);
        }

        activity.SetTag("scaling.cache.l2.available", available);
    }

    /// <summary>Starts the span of a factory call, or returns <see langword="null"/> when nobody listens.</summary>
    internal static Activity? StartFactory(string key, bool eagerRefresh)
    {
        var activity = Source.StartActivity(FactorySpan, ActivityKind.Internal);
        if (activity is not null)
        {
            activity.SetTag("scaling.cache.key", key);
            if (eagerRefresh)
            {
                activity.SetTag("scaling.cache.eager_refresh", true);
            }
        }

        return activity;
    }

    /// <summary>
    /// Records that callers were answered with an expired value (fail-safe) instead of the factory's, and why
    /// (<c>soft_timeout</c>, <c>factory_failed</c>, as the <c>scaling.cache.stale_served</c> metric's reason).
    /// </summary>
    internal static void StaleServed(Activity? activity, string reason, bool local)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag("scaling.cache.stale_served", true);
        activity.SetTag("scaling.cache.stale_reason", reason);
        activity.SetTag("scaling.cache.stale_tier", local ? "l1" : "l2");
    }
}
