namespace Scaling.Tenancy;

/// <summary>
/// No tenant with this id exists in the shard map (HTTP: 404). Not retryable.
/// </summary>
public sealed class TenantNotFoundException : TenantException
{
    /// <summary>Initializes a new instance.</summary>
    /// <param name="tenantId">The id that was not found.</param>
    public TenantNotFoundException(TenantId tenantId)
        : base(tenantId, $"The tenant '{tenantId}' does not exist.")
    {
    }
}
