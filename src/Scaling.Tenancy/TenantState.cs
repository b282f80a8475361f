namespace Scaling.Tenancy;

/// <summary>The state of a tenant in the shard map.</summary>
public enum TenantState
{
    /// <summary>The tenant is served normally: reads and writes on its shard.</summary>
    Active = 0,

    /// <summary>Reads are served; writes are refused with a retryable <see cref="TenantUnavailableException"/> (e.g. the final catch-up of a move, or maintenance).</summary>
    ReadOnly = 1,

    /// <summary>The tenant's rows are being copied to another shard; reads and writes still go to its current shard.</summary>
    Moving = 2,
}
