using Microsoft.Extensions.Caching.Hybrid;
using Npgsql;
using Scaling.Cache;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Domain;

/// <summary>
/// A business's catalog — its settings, services and resources with working hours — cached (Scaling.Cache: L1 per
/// instance + Redis, invalidated by tag on every instance when the catalog changes). A miss reads the shard's primary:
/// a lagging replica would put a just-invalidated catalog back into the cache for its whole lifetime.
/// </summary>
public sealed class CatalogStore(ShardRouter router, HybridCache cache)
{
    private static readonly HybridCacheEntryOptions Entry = new() { Expiration = TimeSpan.FromMinutes(10), LocalCacheExpiration = TimeSpan.FromMinutes(10) };

    /// <summary>The tag of everything cached from a business's catalog.</summary>
    public static string CatalogTag(TenantId tenant) => $"tenant:{tenant}:catalog";

    /// <summary>The business's settings, or <see langword="null"/> when its business row is missing.</summary>
    public ValueTask<BusinessView?> GetBusinessAsync(TenantInfo tenant, CancellationToken cancellationToken)
        => CachedAsync(tenant.Id, "business", async (c, ct) =>
        {
            await using var command = new NpgsqlCommand("SELECT name, time_zone, slot_minutes FROM businesses", c);
            await using var reader = await command.ExecuteReaderAsync(ct);
            return await reader.ReadAsync(ct) ? new BusinessView(tenant.Id.Value, reader.GetString(0), reader.GetString(1), reader.GetInt32(2), tenant.Plan) : null;
        }, cancellationToken);

    /// <summary>The business's active services.</summary>
    public ValueTask<List<ServiceView>> GetServicesAsync(TenantId tenant, CancellationToken cancellationToken)
        => CachedAsync(tenant, "services", async (c, ct) =>
        {
            await using var command = new NpgsqlCommand("SELECT id, name, duration_minutes, price_cents FROM services WHERE active ORDER BY name, id", c);
            await using var reader = await command.ExecuteReaderAsync(ct);
            var list = new List<ServiceView>();
            while (await reader.ReadAsync(ct))
            {
                list.Add(new ServiceView(reader.GetGuid(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt32(3)));
            }

            return list;
        }, cancellationToken);

    /// <summary>The business's active resources with their working hours.</summary>
    public ValueTask<List<ResourceView>> GetResourcesAsync(TenantId tenant, CancellationToken cancellationToken)
        => CachedAsync(tenant, "resources", async (c, ct) =>
        {
            await using var command = new NpgsqlCommand(
                """
                SELECT r.id, r.name, r.kind, h.weekday, h.opens, h.closes
                FROM resources r LEFT JOIN working_hours h ON h.tenant_id = r.tenant_id AND h.resource_id = r.id
                WHERE r.active ORDER BY r.name, r.id, h.weekday
                """,
                c);
            await using var reader = await command.ExecuteReaderAsync(ct);
            var list = new List<ResourceView>();
            while (await reader.ReadAsync(ct))
            {
                var id = reader.GetGuid(0);
                if (list.Count == 0 || list[^1].Id != id)
                {
                    list.Add(new ResourceView(id, reader.GetString(1), reader.GetString(2), new List<WorkingHoursView>()));
                }

                if (!reader.IsDBNull(3))
                {
                    ((List<WorkingHoursView>)list[^1].Hours).Add(new WorkingHoursView(reader.GetInt16(3), reader.GetFieldValue<TimeOnly>(4), reader.GetFieldValue<TimeOnly>(5)));
                }
            }

            return list;
        }, cancellationToken);

    /// <summary>Changes the business's settings (a <see langword="null"/> keeps the current value) and drops its cached catalog.</summary>
    /// <returns>The write's consistency token.</returns>
    public async Task<ShardConsistencyToken?> UpdateBusinessAsync(TenantId tenant, string? name, string? timeZone, int? slotMinutes, CancellationToken cancellationToken)
    {
        var result = await router.WriteAsync(tenant, async (tx, c) =>
        {
            await using var update = new NpgsqlCommand(
                "UPDATE businesses SET name = coalesce($1, name), time_zone = coalesce($2, time_zone), slot_minutes = coalesce($3, slot_minutes)",
                tx.Connection,
                tx);
            update.Parameters.Add(new() { Value = (object?)name ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            update.Parameters.Add(new() { Value = (object?)timeZone ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            update.Parameters.Add(new() { Value = (object?)slotMinutes ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer });
            return await update.ExecuteNonQueryAsync(c);
        }, cancellationToken: cancellationToken);
        await InvalidateAsync(tenant, cancellationToken);
        return result.Token;
    }

    /// <summary>Adds a service and drops the business's cached catalog.</summary>
    /// <returns>The write's consistency token.</returns>
    public Task<ShardConsistencyToken?> AddServiceAsync(TenantId tenant, ServiceView service, CancellationToken cancellationToken)
        => WriteAsync(tenant, batch => CatalogWrites.AddService(batch, tenant, service), cancellationToken);

    /// <summary>Adds a resource with its working hours and drops the business's cached catalog.</summary>
    /// <returns>The write's consistency token.</returns>
    public Task<ShardConsistencyToken?> AddResourceAsync(TenantId tenant, ResourceView resource, CancellationToken cancellationToken)
        => WriteAsync(tenant, batch => CatalogWrites.AddResource(batch, tenant, resource), cancellationToken);

    /// <summary>Drops the cached catalog of a business on every instance.</summary>
    public ValueTask InvalidateAsync(TenantId tenant, CancellationToken cancellationToken) => cache.RemoveByTagAsync(CatalogTag(tenant), cancellationToken);

    /// <summary>The business's time zone (a known zone: validated when set).</summary>
    public static TimeZoneInfo Zone(BusinessView business)
        => TimeZoneInfo.TryFindSystemTimeZoneById(business.TimeZone, out var zone) ? zone : TimeZoneInfo.Utc;

    private async Task<ShardConsistencyToken?> WriteAsync(TenantId tenant, Action<NpgsqlBatch> add, CancellationToken cancellationToken)
    {
        var result = await router.WriteAsync(tenant, async (tx, c) =>
        {
            await using var batch = new NpgsqlBatch(tx.Connection, tx);
            add(batch);
            return await batch.ExecuteNonQueryAsync(c);
        }, cancellationToken: cancellationToken);
        await InvalidateAsync(tenant, cancellationToken);
        return result.Token;
    }

    /// <summary>One catalog part, cached under the business's catalog tag; a miss reads the shard's primary as the tenant.</summary>
    private ValueTask<T> CachedAsync<T>(TenantId tenant, string part, Func<NpgsqlConnection, CancellationToken, Task<T>> read, CancellationToken cancellationToken)
        => cache.GetOrCreateAsync(
            TenantCacheKeys.Key(tenant.Value, part),
            (Router: router, Tenant: tenant, Read: read),
            static (state, ct) => new ValueTask<T>(state.Router.ReadFromPrimaryAsync(state.Tenant, state.Read, ct)),
            Entry,
            [CatalogTag(tenant)],
            cancellationToken);
}
