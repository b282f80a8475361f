using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.EntityFrameworkCore;
using Scaling.Cache;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Domain;

/// <summary>
/// A business's catalog — its settings, services and resources with working hours — cached (Scaling.Cache: L1 per
/// instance + Redis, invalidated by tag on every instance when the catalog changes). Read and written with EF Core
/// (<see cref="CatalogContext"/>, through Scaling.EntityFrameworkCore: the context runs inside the router's tenant entry, so
/// its queries need no tenant filter). A miss reads the shard's primary: a lagging replica would put a just-invalidated
/// catalog back into the cache for its whole lifetime.
/// </summary>
public sealed class CatalogStore(ShardRouter router, HybridCache cache, IDbContextFactory<CatalogContext> contexts)
{
    private static readonly HybridCacheEntryOptions Entry = new() { Expiration = TimeSpan.FromMinutes(10), LocalCacheExpiration = TimeSpan.FromMinutes(10) };

    // The cache key of each catalog part of a business, made once: every request reads two or three parts. Up to
    // MaxKeys keys are kept (the three parts of 10,000 businesses); past that, a key is made for each read, as before.
    private const int MaxKeys = 30_000;
    private static readonly ConcurrentDictionary<(TenantId Tenant, string Part), string> Keys = new();
    private static int _keyCount;

    /// <summary>The tag of everything cached from a business's catalog.</summary>
    public static string CatalogTag(TenantId tenant) => $"tenant:{tenant}:catalog";

    /// <summary>The business's settings, or <see langword="null"/> when its business row is missing.</summary>
    public ValueTask<BusinessView?> GetBusinessAsync(TenantInfo tenant, CancellationToken cancellationToken)
        => CachedAsync(tenant.Id, "business", tenant, static async (db, info, ct) =>
            await db.Businesses
                .Where(b => b.TenantId == info.Id.Value) // row-level security admits only this row; said here too (and EF Core warned of a First without a filter)
                .Select(b => new BusinessView(info.Id.Value, b.Name, b.TimeZone, b.SlotMinutes, info.Plan))
                .FirstOrDefaultAsync(ct), cancellationToken);

    /// <summary>The business's active services.</summary>
    public ValueTask<List<ServiceView>> GetServicesAsync(TenantId tenant, CancellationToken cancellationToken)
        => CachedAsync(tenant, "services", tenant, static (db, _, ct) =>
            db.Services
                .Where(s => s.Active)
                .OrderBy(s => s.Name).ThenBy(s => s.Id)
                .Select(s => new ServiceView(s.Id, s.Name, s.DurationMinutes, s.PriceCents))
                .ToListAsync(ct), cancellationToken);

    /// <summary>The business's active resources with their working hours.</summary>
    public ValueTask<List<ResourceView>> GetResourcesAsync(TenantId tenant, CancellationToken cancellationToken)
        => CachedAsync(tenant, "resources", tenant, static async (db, _, ct) =>
        {
            var rows = await db.Resources
                .Where(r => r.Active)
                .OrderBy(r => r.Name).ThenBy(r => r.Id)
                .Select(r => new { r.Id, r.Name, r.Kind, Hours = r.Hours.OrderBy(h => h.Weekday).ToList() })
                .ToListAsync(ct);
            return rows.ConvertAll(r => new ResourceView(
                r.Id, r.Name, r.Kind, r.Hours.ConvertAll(h => new WorkingHoursView(h.Weekday, h.Opens, h.Closes))));
        }, cancellationToken);

    /// <summary>Changes the business's settings (a <see langword="null"/> keeps the current value) and drops its cached catalog.</summary>
    /// <returns>The write's consistency token.</returns>
    public async Task<ShardConsistencyToken?> UpdateBusinessAsync(TenantId tenant, string? name, string? timeZone, int? slotMinutes, CancellationToken cancellationToken)
    {
        var result = await router.WriteAsync(contexts, tenant, (db, ct) => db.Businesses.ExecuteUpdateAsync(
            set => set
                .SetProperty(b => b.Name, b => name ?? b.Name)
                .SetProperty(b => b.TimeZone, b => timeZone ?? b.TimeZone)
                .SetProperty(b => b.SlotMinutes, b => slotMinutes ?? b.SlotMinutes),
            ct), cancellationToken: cancellationToken);
        await InvalidateAsync(tenant, cancellationToken);
        return result.Token;
    }

    /// <summary>Adds a service and drops the business's cached catalog.</summary>
    /// <returns>The write's consistency token.</returns>
    public Task<ShardConsistencyToken?> AddServiceAsync(TenantId tenant, ServiceView service, CancellationToken cancellationToken)
        => WriteAsync(tenant, db => db.Services.Add(new ServiceRow
        {
            TenantId = tenant.Value,
            Id = service.Id,
            Name = service.Name,
            DurationMinutes = service.DurationMinutes,
            PriceCents = service.PriceCents,
        }), cancellationToken);

    /// <summary>Adds a resource with its working hours and drops the business's cached catalog.</summary>
    /// <returns>The write's consistency token.</returns>
    public Task<ShardConsistencyToken?> AddResourceAsync(TenantId tenant, ResourceView resource, CancellationToken cancellationToken)
        => WriteAsync(tenant, db => db.Resources.Add(new ResourceRow
        {
            TenantId = tenant.Value,
            Id = resource.Id,
            Name = resource.Name,
            Kind = resource.Kind,
            Hours = [.. resource.Hours.Select(h => new WorkingHoursRow
            {
                TenantId = tenant.Value,
                ResourceId = resource.Id,
                Weekday = (short)h.Weekday,
                Opens = h.Opens,
                Closes = h.Closes,
            })],
        }), cancellationToken);

    /// <summary>Drops the cached catalog of a business on every instance.</summary>
    public ValueTask InvalidateAsync(TenantId tenant, CancellationToken cancellationToken) => cache.RemoveByTagAsync(CatalogTag(tenant), cancellationToken);

    /// <summary>The business's time zone (a known zone: validated when set).</summary>
    public static TimeZoneInfo Zone(BusinessView business)
        => TimeZoneInfo.TryFindSystemTimeZoneById(business.TimeZone, out var zone) ? zone : TimeZoneInfo.Utc;

    /// <summary>Adds what <paramref name="add"/> adds to the context (saved and committed as the tenant), then drops the cached catalog.</summary>
    private async Task<ShardConsistencyToken?> WriteAsync(TenantId tenant, Action<CatalogContext> add, CancellationToken cancellationToken)
    {
        var result = await router.WriteAsync(contexts, tenant, (db, _) =>
        {
            add(db);
            return Task.FromResult(0); // the pending inserts are saved before the commit
        }, cancellationToken: cancellationToken);
        await InvalidateAsync(tenant, cancellationToken);
        return result.Token;
    }

    private static string KeyOf(TenantId tenant, string part)
    {
        if (Keys.TryGetValue((tenant, part), out var key))
        {
            return key;
        }

        key = TenantCacheKeys.Key(tenant.Value, part);
        if (Volatile.Read(ref _keyCount) < MaxKeys && Keys.TryAdd((tenant, part), key))
        {
            Interlocked.Increment(ref _keyCount);
        }

        return key;
    }

    /// <summary>
    /// One catalog part, cached under the business's catalog tag; a miss reads the shard's primary as the tenant. The
    /// read is a static delegate given <paramref name="arg"/>, so a hit allocates no closure.
    /// </summary>
    private ValueTask<T> CachedAsync<TArg, T>(TenantId tenant, string part, TArg arg, Func<CatalogContext, TArg, CancellationToken, Task<T>> read, CancellationToken cancellationToken)
        => cache.GetOrCreateAsync(
            KeyOf(tenant, part),
            (Router: router, Contexts: contexts, Tenant: tenant, Arg: arg, Read: read),
            static (state, ct) => new ValueTask<T>(state.Router.ReadFromPrimaryAsync(state.Contexts, state.Tenant, (db, c) => state.Read(db, state.Arg, c), ct)),
            Entry,
            EntryTags.Catalog(tenant),
            cancellationToken);
}
