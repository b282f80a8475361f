using System.Diagnostics;

namespace Scaling.Data;

/// <summary>
/// The spans of the <c>Scaling.Data</c> <see cref="ActivitySource"/> (named like the meter): <c>data read</c>, with the
/// routing decision (which server and why), and <c>data write</c>. Nothing is allocated or tagged when no listener
/// samples the source (<see cref="ActivitySource.StartActivity(string, ActivityKind)"/> then returns <see langword="null"/>).
/// </summary>
internal static class DataActivities
{
    /// <summary>The source's name: the meter's.</summary>
    internal const string SourceName = DataInstruments.MeterName;

    /// <summary>The span of a read: its routing (rounds after a failure included) and its work.</summary>
    internal const string ReadSpan = "data read";

    /// <summary>The span of a write on the primary: its transaction, its commit and the token read after it.</summary>
    internal const string WriteSpan = "data write";

    /// <summary>Routed to a replica that had no token to reach.</summary>
    internal const string ReplicaAvailable = "replica_available";

    /// <summary>Routed to a replica whose known replay position had reached the token.</summary>
    internal const string TokenReached = "token_reached";

    /// <summary>Routed to the most advanced replica after checking its replay position live against the token.</summary>
    internal const string TokenReachedLive = "token_reached_live";

    /// <summary>Routed to the primary: no replica is configured.</summary>
    internal const string NoReplicas = "no_replicas";

    /// <summary>Routed to the primary: the caller asked for the primary (<c>ReadFromPrimaryAsync</c>).</summary>
    internal const string PrimaryOnly = "primary_only";

    /// <summary>Routed to the primary: replicas take reads but none has reached the token.</summary>
    internal const string TokenNotReached = "token_not_reached";

    /// <summary>Routed to the primary: every replica is ejected by the health monitor.</summary>
    internal const string ReplicasEjected = "replicas_ejected";

    /// <summary>Routed to the primary: no replica takes reads (ejected, or its circuit breaker open).</summary>
    internal const string NoReplicaAvailable = "no_replica_available";

    /// <summary>Routed to the primary: the replicas that could take the read failed during it.</summary>
    internal const string ReplicaFailed = "replica_failed";

    /// <summary>The source, versioned like the assembly.</summary>
    internal static readonly ActivitySource Source = PackageActivitySource.Create(SourceName, typeof(DataActivities));

    /// <summary>Starts a read's span, or returns <see langword="null"/> when nobody listens.</summary>
    internal static Activity? StartRead(string dataSource, ConsistencyToken? token)
    {
        var activity = Source.StartActivity(ReadSpan, ActivityKind.Internal);
        if (activity is not null)
        {
            activity.SetTag("db.system.name", "postgresql");
            activity.SetTag("scaling.data.data_source", dataSource);
            if (token is { } required)
            {
                activity.SetTag("scaling.data.consistency_token", required.ToString());
            }
        }

        return activity;
    }

    /// <summary>Starts a write's span, or returns <see langword="null"/> when nobody listens.</summary>
    internal static Activity? StartWrite(string dataSource, DataServer primary, bool idempotent)
    {
        var activity = Source.StartActivity(WriteSpan, ActivityKind.Internal);
        if (activity is not null)
        {
            activity.SetTag("db.system.name", "postgresql");
            activity.SetTag("scaling.data.data_source", dataSource);
            SetServer(activity, primary);
            activity.SetTag("scaling.data.write.idempotent", idempotent);
        }

        return activity;
    }

    /// <summary>Records where a read went and why (the last round's decision wins).</summary>
    internal static void Routed(Activity? activity, DataServer server, string reason)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag("scaling.data.route", server.Role == ServerRole.Primary ? "primary" : "replica");
        activity.SetTag("scaling.data.route.reason", reason);
        SetServer(activity, server);
    }

    /// <summary>Adds a <c>server failed</c> event: a server failed during the read, which goes on elsewhere.</summary>
    internal static void ServerFailed(Activity? activity, DataServer server, Exception exception)
    {
        activity?.AddEvent(new ActivityEvent(
            "server failed",
            tags: new ActivityTagsCollection
            {
                { "server.address", server.Host },
                { "server.port", server.Port },
                { ActivityErrors.ErrorType, exception.GetType().FullName },
            }));
    }

    /// <summary>Records the consistency token a write returned.</summary>
    internal static void Committed(Activity? activity, ConsistencyToken? token)
    {
        if (activity is not null && token is { } written)
        {
            activity.SetTag("scaling.data.consistency_token", written.ToString());
        }
    }

    private static void SetServer(Activity activity, DataServer server)
    {
        activity.SetTag("server.address", server.Host);
        activity.SetTag("server.port", server.Port);
        if (server.Database is { } database)
        {
            activity.SetTag("db.namespace", database);
        }
    }
}
