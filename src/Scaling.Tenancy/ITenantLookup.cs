namespace Scaling.Tenancy;

/// <summary>
/// Finds a tenant by id: what resolution (for example the ASP.NET Core middleware) asks once it has read a
/// well-formed tenant id from a request. The shard map implements it from its in-process cache.
/// </summary>
public interface ITenantLookup
{
    /// <summary>Finds a tenant.</summary>
    /// <param name="tenantId">A valid tenant id.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The tenant (id, plan and shard), or <see langword="null"/> when no such tenant exists.</returns>
    ValueTask<TenantInfo?> FindAsync(TenantId tenantId, CancellationToken cancellationToken = default);
}
