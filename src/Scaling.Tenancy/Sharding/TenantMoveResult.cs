namespace Scaling.Tenancy.Sharding;

/// <summary>What a completed tenant move did and how long the tenant's writes were paused.</summary>
/// <param name="TenantId">The tenant.</param>
/// <param name="SourceShardId">The shard it left.</param>
/// <param name="TargetShardId">The shard it is on now.</param>
/// <param name="RowsCopied">Rows copied by the bulk copy (catch-up rounds re-copy changed rows on top).</param>
/// <param name="CatchUpRounds">Catch-up rounds run, the final (fenced) one included.</param>
/// <param name="ChangesApplied">Changed rows applied by the catch-up rounds.</param>
/// <param name="WritePause">How long writes were fenced: from the fence request (which waits for writes in flight) to the map flip.</param>
/// <param name="Duration">The whole move, from start to the source clean-up.</param>
/// <param name="Epoch">The map epoch of the flip.</param>
/// <param name="SourceCleanedUp">Whether the source's copy was deleted; when <see langword="false"/>, running a later move of the tenant (or back) finishes it.</param>
public sealed record TenantMoveResult(
    TenantId TenantId,
    string SourceShardId,
    string TargetShardId,
    long RowsCopied,
    int CatchUpRounds,
    long ChangesApplied,
    TimeSpan WritePause,
    TimeSpan Duration,
    long Epoch,
    bool SourceCleanedUp);
