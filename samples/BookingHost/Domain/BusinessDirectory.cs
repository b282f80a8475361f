using Npgsql;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Domain;

/// <summary>Creates businesses: a tenant in the shard map (placed on the least-loaded shard, or a given one) plus its business row.</summary>
public sealed class BusinessDirectory(ShardRouter router, TenantAdministration administration)
{
    /// <summary>Creates a business; idempotent for the business row when the tenant already exists.</summary>
    /// <param name="tenant">The business's id (its subdomain).</param>
    /// <param name="name">Its display name.</param>
    /// <param name="plan">Its plan (<c>basic</c> or <c>premium</c>).</param>
    /// <param name="shardId">The shard, or <see langword="null"/> for the least-loaded one.</param>
    /// <param name="timeZone">Its IANA time zone (working hours are local to it).</param>
    /// <param name="cancellationToken">Cancels the creation.</param>
    /// <returns>The tenant's placement.</returns>
    public async Task<TenantPlacement> CreateAsync(TenantId tenant, string name, string plan, string? shardId, string timeZone, CancellationToken cancellationToken)
    {
        var placement = router.Map.TryGetTenant(tenant, out var existing) ? existing : await administration.CreateTenantAsync(tenant, plan, shardId, cancellationToken);
        await router.WriteAsync(
            tenant,
            async (tx, ct) =>
            {
                await using var insert = new NpgsqlCommand(
                    "INSERT INTO businesses (tenant_id, name, time_zone) VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO NOTHING",
                    tx.Connection,
                    tx);
                insert.Parameters.Add(new() { Value = tenant.Value });
                insert.Parameters.Add(new() { Value = name });
                insert.Parameters.Add(new() { Value = timeZone });
                return await insert.ExecuteNonQueryAsync(ct);
            },
            idempotent: true,
            cancellationToken: cancellationToken);
        return placement;
    }
}
