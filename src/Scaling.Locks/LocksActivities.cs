using System.Diagnostics;

namespace Scaling.Locks;

/// <summary>
/// The spans of the <c>Scaling.Locks</c> <see cref="ActivitySource"/> (named like the meter): a Redlock acquisition
/// (<c>lock acquire</c>: status, attempts, fencing token, each master's answer) and a release (<c>lock release</c>).
/// Nothing is allocated or tagged when no listener samples the source.
/// </summary>
internal static class LocksActivities
{
    /// <summary>The source's name: the meter's.</summary>
    internal const string SourceName = LocksInstruments.MeterName;

    /// <summary>The span of an acquisition: every attempt, the retry delays, and the fencing token.</summary>
    internal const string AcquireSpan = "lock acquire";

    /// <summary>The span of a release: compare-and-delete on every master until a majority has deleted the key.</summary>
    internal const string ReleaseSpan = "lock release";

    /// <summary>The event that carries one master's answer to the last attempt.</summary>
    internal const string MasterEvent = "lock master";

    /// <summary>The source, versioned like the assembly.</summary>
    internal static readonly ActivitySource Source = PackageActivitySource.Create(SourceName, typeof(LocksActivities));

    /// <summary>Starts a span for <paramref name="resource"/>, or returns <see langword="null"/> when nobody listens.</summary>
    internal static Activity? Start(string name, string resource, int masters, int quorum)
    {
        var activity = Source.StartActivity(name, ActivityKind.Internal);
        if (activity is not null)
        {
            activity.SetTag("scaling.locks.resource", resource);
            activity.SetTag("scaling.locks.masters", masters);
            activity.SetTag("scaling.locks.quorum", quorum);
        }

        return activity;
    }

    /// <summary>
    /// Records how an acquisition ended: its status (as the metrics name it: <c>acquired</c>, <c>conflicted</c>,
    /// <c>no_quorum</c>, <c>cancelled</c>, <c>failed</c>), the attempts made and each master's answer to the last one;
    /// a lock not acquired is an error (<c>error.type</c> = the status).
    /// </summary>
    internal static void Finished(Activity? activity, string status, int attempts, IReadOnlyList<LockNodeResult>? nodes)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag("scaling.locks.status", status);
        activity.SetTag("scaling.locks.attempts", attempts);
        if (nodes is not null)
        {
            Masters(activity, nodes);
        }

        if (status is "conflicted" or "no_quorum")
        {
            ActivityErrors.Set(activity, status, status == "conflicted"
                ? "The lock is held by another owner: not acquired within the wait."
                : "Too few masters granted the lock in time: not acquired within the wait.");
        }
    }

    /// <summary>Records the fencing token handed out with the lock.</summary>
    internal static void FencingToken(Activity? activity, long? token)
    {
        if (activity is not null && token is { } value)
        {
            activity.SetTag("scaling.locks.fencing_token", value);
        }
    }

    /// <summary>Records how many masters deleted the key on release; fewer than a quorum is an error (the rest expire at their TTL).</summary>
    internal static void Released(Activity? activity, int released, int quorum)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag("scaling.locks.released", released);
        if (released < quorum)
        {
            ActivityErrors.Set(activity, "release_incomplete", "Fewer than a quorum of masters confirmed the release; the key expires at its TTL on the others.");
        }
    }

    private static void Masters(Activity activity, IReadOnlyList<LockNodeResult> nodes)
    {
        foreach (var node in nodes)
        {
            var tags = new ActivityTagsCollection();
            if (RedisEndPoint.TryParse(node.EndPoint, out var host, out var port))
            {
                tags.Add("server.address", host);
                tags.Add("server.port", port);
            }
            else
            {
                tags.Add("server.address", node.EndPoint);
            }

            tags.Add("scaling.locks.master.outcome", OutcomeTag(node.Outcome));
            tags.Add("scaling.locks.master.duration", node.Elapsed.TotalSeconds);
            activity.AddEvent(new ActivityEvent(MasterEvent, tags: tags));
        }
    }

    private static string OutcomeTag(LockNodeOutcome outcome) => outcome switch
    {
        LockNodeOutcome.Granted => "granted",
        LockNodeOutcome.Conflicted => "conflicted",
        LockNodeOutcome.Failed => "failed",
        LockNodeOutcome.TimedOut => "timed_out",
        _ => "pending",
    };
}
