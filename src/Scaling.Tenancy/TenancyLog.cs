using Microsoft.Extensions.Logging;

namespace Scaling.Tenancy;

/// <summary>The log messages of Scaling.Tenancy's shard map, router and mover (source-generated).</summary>
internal static partial class TenancyLog
{
    [LoggerMessage(201, LogLevel.Information, "Shard map loaded: epoch {Epoch}, {Shards} shards, {Tenants} tenants ({Reason})")]
    public static partial void MapLoaded(ILogger logger, long epoch, int shards, int tenants, string reason);

    [LoggerMessage(202, LogLevel.Warning, "Shard map refresh failed ({Reason}); routing goes on from the cached map at epoch {Epoch}")]
    public static partial void MapRefreshFailed(ILogger logger, string reason, long epoch, Exception exception);

    [LoggerMessage(203, LogLevel.Warning, "Shard map change push: Redis subscription failed; changes arrive by the periodic refresh")]
    public static partial void SubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(204, LogLevel.Information, "Stale route for tenant {TenantId}: shard {ShardId} does not own it (map epoch {Epoch}); refreshing the map")]
    public static partial void StaleRoute(ILogger logger, string tenantId, string shardId, long epoch);

    [LoggerMessage(205, LogLevel.Warning, "Tenant {TenantId} unavailable ({Reason}) on shard {ShardId}")]
    public static partial void TenantUnavailable(ILogger logger, string tenantId, string shardId, string reason, Exception? exception);

    [LoggerMessage(206, LogLevel.Information, "Tenant {TenantId} placed on shard {ShardId} (epoch {Epoch})")]
    public static partial void TenantCreated(ILogger logger, string tenantId, string shardId, long epoch);

    [LoggerMessage(207, LogLevel.Information, "Move of tenant {TenantId} from {Source} to {Target}: {Step}")]
    public static partial void MoveStep(ILogger logger, string tenantId, string source, string target, string step);

    [LoggerMessage(208, LogLevel.Information, "Move of tenant {TenantId} from {Source} to {Target} completed: {Rows} rows copied, writes paused {PauseMilliseconds} ms, {Rounds} catch-up rounds")]
    public static partial void MoveCompleted(ILogger logger, string tenantId, string source, string target, long rows, double pauseMilliseconds, int rounds);

    [LoggerMessage(209, LogLevel.Error, "Move of tenant {TenantId} from {Source} to {Target} failed and was rolled back")]
    public static partial void MoveRolledBack(ILogger logger, string tenantId, string source, string target, Exception exception);

    [LoggerMessage(210, LogLevel.Error, "Rolling back the move of tenant {TenantId} failed at step {Step}; run the move again to finish the clean-up")]
    public static partial void MoveRollbackFailed(ILogger logger, string tenantId, string step, Exception exception);

    [LoggerMessage(211, LogLevel.Warning, "Fan-out: shard {ShardId} failed")]
    public static partial void FanOutShardFailed(ILogger logger, string shardId, Exception exception);

    [LoggerMessage(212, LogLevel.Error, "Disposing the data source of shard {ShardId} failed")]
    public static partial void ShardDisposeFailed(ILogger logger, string shardId, Exception exception);
}
