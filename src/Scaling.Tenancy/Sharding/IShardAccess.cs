using Scaling.Data;

namespace Scaling.Tenancy.Sharding;

/// <summary>
/// What administration and moves need from the router, and nothing more: the map, the options, a shard's data source,
/// a tenant's route, and logging. Implemented by <see cref="ShardRouter"/>.
/// </summary>
internal interface IShardAccess
{
    /// <summary>The shard map (its reads, and its writes under a new epoch).</summary>
    ShardMap Map { get; }

    /// <summary>The options the router was made with.</summary>
    ScalingTenancyOptions Options { get; }

    /// <summary>Creates the loggers of administration and moves.</summary>
    Microsoft.Extensions.Logging.ILoggerFactory LoggerFactory { get; }

    /// <summary>The data source of a shard (created once, reused).</summary>
    ReadWriteDataSource GetShard(string shardId);

    /// <summary>A tenant's placement, from the cached map.</summary>
    ValueTask<TenantPlacement> RouteAsync(TenantId tenantId, CancellationToken cancellationToken);
}
