namespace Scaling.Tenancy;

/// <summary>The base of the exceptions Scaling.Tenancy raises about one tenant; it carries the tenant's id.</summary>
public abstract class TenantException : Exception
{
    /// <summary>Initializes a new instance.</summary>
    /// <param name="tenantId">The tenant concerned.</param>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause, if any.</param>
    protected TenantException(TenantId tenantId, string message, Exception? innerException = null)
        : base(message, innerException) => TenantId = tenantId;

    /// <summary>Gets the id of the tenant concerned.</summary>
    public TenantId TenantId { get; }
}
