namespace Scaling.Tenancy.Sharding;

/// <summary>Where a tenant lives according to the shard map, and its state.</summary>
public sealed class TenantPlacement
{
    internal TenantPlacement(TenantId id, string plan, string shardId, TenantState state, string? moveTargetShardId, long epoch)
    {
        Id = id;
        Plan = plan;
        ShardId = shardId;
        State = state;
        MoveTargetShardId = moveTargetShardId;
        Epoch = epoch;
        Info = new TenantInfo(id, plan, shardId);
    }

    /// <summary>Gets the tenant's id.</summary>
    public TenantId Id { get; }

    /// <summary>Gets the tenant's subscription plan.</summary>
    public string Plan { get; }

    /// <summary>Gets the id of the shard that holds the tenant's data.</summary>
    public string ShardId { get; }

    /// <summary>Gets the tenant's state.</summary>
    public TenantState State { get; }

    /// <summary>Gets the shard the tenant is being moved to while <see cref="State"/> is <see cref="TenantState.Moving"/>; otherwise <see langword="null"/>.</summary>
    public string? MoveTargetShardId { get; }

    /// <summary>Gets the map epoch at which this placement last changed.</summary>
    public long Epoch { get; }

    /// <summary>Gets the tenant as <see cref="TenantInfo"/> (id, plan, shard); the same instance on every call.</summary>
    public TenantInfo Info { get; }
}
