namespace Scaling.Tenancy.Sharding;

/// <summary>A tenant move failed. <see cref="RolledBack"/> says whether the tenant is still on its source shard.</summary>
public sealed class TenantMoveException : TenantException
{
    /// <summary>Initializes a new instance.</summary>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="sourceShardId">The shard the move started from.</param>
    /// <param name="targetShardId">The shard the move was going to.</param>
    /// <param name="rolledBack">Whether the move was rolled back (the tenant is served from the source).</param>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public TenantMoveException(TenantId tenantId, string sourceShardId, string targetShardId, bool rolledBack, string message, Exception? innerException)
        : base(tenantId, message, innerException)
    {
        SourceShardId = sourceShardId;
        TargetShardId = targetShardId;
        RolledBack = rolledBack;
    }

    /// <summary>Gets the shard the move started from.</summary>
    public string SourceShardId { get; }

    /// <summary>Gets the shard the move was going to.</summary>
    public string TargetShardId { get; }

    /// <summary>Gets whether the move was rolled back (the tenant is served from <see cref="SourceShardId"/>); otherwise the tenant is on <see cref="TargetShardId"/> and only the source clean-up is left.</summary>
    public bool RolledBack { get; }
}
