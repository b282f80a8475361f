namespace Scaling.Tenancy;

/// <summary>
/// The tenant exists but cannot be served right now — it is read-only for the final step of a move, its shard
/// cannot be reached, or its route kept changing — and the request may succeed if retried later (HTTP: 503 with
/// <c>Retry-After</c>). Other tenants are not affected.
/// </summary>
public sealed class TenantUnavailableException : TenantException
{
    /// <summary>Initializes a new instance.</summary>
    /// <param name="tenantId">The tenant concerned.</param>
    /// <param name="reason">Why the tenant is unavailable.</param>
    /// <param name="retryAfter">When a retry may succeed.</param>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause, if any.</param>
    public TenantUnavailableException(TenantId tenantId, TenantUnavailableReason reason, TimeSpan retryAfter, string message, Exception? innerException = null)
        : base(tenantId, message, innerException)
    {
        Reason = reason;
        RetryAfter = retryAfter;
    }

    /// <summary>Gets why the tenant is unavailable.</summary>
    public TenantUnavailableReason Reason { get; }

    /// <summary>Gets how long the caller should wait before retrying.</summary>
    public TimeSpan RetryAfter { get; }
}

/// <summary>Why a tenant is unavailable.</summary>
public enum TenantUnavailableReason
{
    /// <summary>The tenant is read-only (for example during the final catch-up of a move) and the request writes.</summary>
    ReadOnly = 0,

    /// <summary>The tenant's shard cannot be reached.</summary>
    ShardUnavailable = 1,

    /// <summary>The tenant's route changed while the request was being routed (a move completed) and did not settle.</summary>
    RouteChanged = 2,

    /// <summary>The shard map has not been loaded yet and the metadata database cannot be reached.</summary>
    DirectoryUnavailable = 3,
}
