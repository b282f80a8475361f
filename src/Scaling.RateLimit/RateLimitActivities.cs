using System.Diagnostics;

namespace Scaling.RateLimit;

/// <summary>
/// The spans of the <c>Scaling.RateLimit</c> <see cref="ActivitySource"/> (named like the meter): one
/// <c>rate limit check</c> per <see cref="RedisRateLimiter.CheckAsync"/>, with the policies checked, the decision and
/// whether it was taken in degraded mode. Nothing is allocated or tagged when no listener samples the source.
/// </summary>
internal static class RateLimitActivities
{
    /// <summary>The source's name: the meter's.</summary>
    internal const string SourceName = RateLimitInstruments.MeterName;

    /// <summary>The span of a check (one Lua round trip, or the failure modes while Redis is unavailable).</summary>
    internal const string CheckSpan = "rate limit check";

    /// <summary>The source, versioned like the assembly.</summary>
    internal static readonly ActivitySource Source = PackageActivitySource.Create(SourceName, typeof(RateLimitActivities));

    /// <summary>Starts a check's span, or returns <see langword="null"/> when nobody listens (then nothing is built).</summary>
    internal static Activity? StartCheck(RateLimitCheck check, int permits)
    {
        var activity = Source.StartActivity(CheckSpan, ActivityKind.Internal);
        if (activity is not null)
        {
            var rules = check.Rules;
            var policies = new string[rules.Count];
            for (var i = 0; i < policies.Length; i++)
            {
                policies[i] = rules[i].Policy.Name;
            }

            activity.SetTag("scaling.ratelimit.tier", check.Tier);
            activity.SetTag("scaling.ratelimit.policies", policies);
            activity.SetTag("scaling.ratelimit.permits", permits);
        }

        return activity;
    }

    /// <summary>
    /// Records the decision: <c>allowed</c> or <c>rejected</c> (as the metric's <c>outcome</c>), the policy that
    /// rejected it, whether Redis was unavailable (degraded: the policies' failure modes decided) and where it was counted
    /// (<c>redis</c>, <c>local</c>, <c>none</c>).
    /// </summary>
    internal static void Decided(Activity? activity, RateLimitDecision decision, string store)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag("scaling.ratelimit.decision", decision.IsAllowed ? "allowed" : "rejected");
        if (decision.RejectedBy is { } policy)
        {
            activity.SetTag("scaling.ratelimit.rejected_by", policy);
            activity.SetTag("scaling.ratelimit.retry_after", decision.RetryAfter.TotalSeconds);
        }

        activity.SetTag("scaling.ratelimit.degraded", decision.IsDegraded);
        activity.SetTag("scaling.ratelimit.store", store);
    }

    /// <summary>Adds a <c>redis failed</c> event: the check could not be answered by Redis and fell back on the failure modes.</summary>
    internal static void RedisFailed(Activity? activity, Exception exception)
    {
        activity?.AddEvent(new ActivityEvent(
            "redis failed",
            tags: new ActivityTagsCollection { { ActivityErrors.ErrorType, exception.GetType().FullName } }));
    }
}
