using System.Diagnostics;
using Scaling.Tenancy.Sharding;

namespace Scaling.Tenancy;

/// <summary>
/// The spans of the <c>Scaling.Tenancy</c> <see cref="ActivitySource"/> (named like the meter): a tenant's work routed to
/// its shard (<c>tenant write</c>, <c>tenant read</c>) and a bare route (<c>tenant route</c>), tagged with the tenant,
/// the shard and the map epoch. Nothing is allocated or tagged when no listener samples the source.
/// </summary>
internal static class TenancyActivities
{
    /// <summary>The source's name: the meter's.</summary>
    internal const string SourceName = TenancyInstruments.MeterName;

    /// <summary>The span of <see cref="ShardRouter.RouteAsync"/>: the tenant's placement in the map.</summary>
    internal const string RouteSpan = "tenant route";

    /// <summary>The span of a tenant's read on its shard, re-routes included.</summary>
    internal const string ReadSpan = "tenant read";

    /// <summary>The span of a tenant's write on its shard, re-routes included.</summary>
    internal const string WriteSpan = "tenant write";

    /// <summary>The source, versioned like the assembly.</summary>
    internal static readonly ActivitySource Source = PackageActivitySource.Create(SourceName, typeof(TenancyActivities));

    /// <summary>Starts a span for <paramref name="tenantId"/>, or returns <see langword="null"/> when nobody listens.</summary>
    internal static Activity? Start(string name, TenantId tenantId)
    {
        var activity = Source.StartActivity(name, ActivityKind.Internal);
        activity?.SetTag("scaling.tenancy.tenant_id", tenantId.Value);
        return activity;
    }

    /// <summary>Records where the tenant was routed (a re-route overwrites it): shard, state and the map's epoch.</summary>
    internal static void Routed(Activity? activity, TenantPlacement placement, long mapEpoch)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag("scaling.tenancy.shard_id", placement.ShardId);
        activity.SetTag("scaling.tenancy.map_epoch", mapEpoch);
        activity.SetTag("scaling.tenancy.tenant_state", StateTag(placement.State));
        if (placement.MoveTargetShardId is { } target)
        {
            activity.SetTag("scaling.tenancy.move_target_shard_id", target);
        }
    }

    /// <summary>Adds a <c>route refused</c> event: the shard did not own the tenant (a stale map) or it was read-only.</summary>
    internal static void RouteRefused(Activity? activity, TenantPlacement placement, long mapEpoch, bool readOnly)
    {
        activity?.AddEvent(new ActivityEvent(
            "route refused",
            tags: new ActivityTagsCollection
            {
                { "scaling.tenancy.shard_id", placement.ShardId },
                { "scaling.tenancy.map_epoch", mapEpoch },
                { "scaling.tenancy.refusal", readOnly ? "read_only" : "not_owned" },
            }));
    }

    /// <summary>
    /// Marks the span failed (see <see cref="ActivityErrors.Record"/>) and, for a <see cref="TenantUnavailableException"/>,
    /// tags its reason. Returns <see langword="false"/>, for use as an exception filter.
    /// </summary>
    internal static bool Failed(Activity? activity, Exception exception)
    {
        if (activity is not null && exception is TenantUnavailableException unavailable)
        {
            activity.SetTag("scaling.tenancy.unavailable_reason", ReasonTag(unavailable.Reason));
        }

        return ActivityErrors.Record(activity, exception);
    }

    private static string StateTag(TenantState state) => state switch
    {
        TenantState.Active => "active",
        TenantState.ReadOnly => "read_only",
        TenantState.Moving => "moving",
        _ => "unknown",
    };

    private static string ReasonTag(TenantUnavailableReason reason) => reason switch
    {
        TenantUnavailableReason.ReadOnly => "read_only",
        TenantUnavailableReason.ShardUnavailable => "shard_unavailable",
        TenantUnavailableReason.RouteChanged => "route_changed",
        TenantUnavailableReason.DirectoryUnavailable => "directory_unavailable",
        _ => "unknown",
    };
}
