using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;
using Npgsql;
using Scaling.Cache;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Domain;

/// <summary>
/// Free start times of a service with a resource on one local day, cached for 30 s (Scaling.Cache, tagged per resource
/// and day and with the business's catalog) and dropped on every instance when a booking of that day changes.
/// </summary>
public sealed class AvailabilityQuery(ShardRouter router, HybridCache cache, IOptions<JsonOptions> json)
{
    // The JSON made from a cached entry, by the entry object (held no longer than the entry itself).
    private readonly ConditionalWeakTable<AvailabilityView, SerializedAvailability> _json = new();
    private static readonly HybridCacheEntryOptions Entry = new() { Expiration = TimeSpan.FromSeconds(30), LocalCacheExpiration = TimeSpan.FromSeconds(30) };

    /// <summary>The tag of one resource's availability on one local day.</summary>
    public static string Tag(TenantId tenant, Guid resource, DateOnly day) => $"tenant:{tenant}:availability:{resource:N}:{day:yyyy-MM-dd}";

    /// <summary>
    /// The free start times after now. Without <paramref name="consistency"/> from the shared cache (filled from the
    /// shard's primary); with it (the client has just written) computed from a replica that has its write, bypassing the cache.
    /// </summary>
    public async Task<AvailabilityView> GetAsync(
        TenantId tenant, BusinessView business, ServiceView service, ResourceView resource, DateOnly day, ShardConsistencyToken? consistency, CancellationToken cancellationToken)
    {
        var zone = CatalogStore.Zone(business);
        if (consistency is not null)
        {
            return await ComputeAsync(tenant, business, service, resource, day, zone, consistency, cancellationToken);
        }

        return Upcoming(await GetCachedAsync(tenant, business, service, resource, day, zone, cancellationToken), DateTimeOffset.UtcNow);
    }

    /// <summary>
    /// <see cref="GetAsync"/> as the API's JSON (UTF-8, with the HTTP API's serializer options). The JSON of a cached
    /// entry is made once per instance and served again until the entry changes or its earliest start time passes, so a
    /// cache hit costs no serialization.
    /// </summary>
    public async Task<byte[]> GetJsonAsync(
        TenantId tenant, BusinessView business, ServiceView service, ResourceView resource, DateOnly day, ShardConsistencyToken? consistency, CancellationToken cancellationToken)
    {
        var options = json.Value.SerializerOptions;
        if (consistency is not null)
        {
            return JsonSerializer.SerializeToUtf8Bytes(await GetAsync(tenant, business, service, resource, day, consistency, cancellationToken), options);
        }

        var cached = await GetCachedAsync(tenant, business, service, resource, day, CatalogStore.Zone(business), cancellationToken);
        var now = DateTimeOffset.UtcNow;
        if (_json.TryGetValue(cached, out var made) && now < made.ValidUntil)
        {
            return made.Bytes;
        }

        var upcoming = Upcoming(cached, now);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(upcoming, options);
        _json.AddOrUpdate(cached, new SerializedAvailability(bytes, upcoming.Slots.Count == 0 ? DateTimeOffset.MaxValue : upcoming.Slots.Min()));
        return bytes;
    }

    private static AvailabilityView Upcoming(AvailabilityView view, DateTimeOffset now) => view with { Slots = view.Slots.Where(s => s > now).ToArray() };

    /// <summary>The entry shared by every instance (the same object on every L1 hit of this instance).</summary>
    private ValueTask<AvailabilityView> GetCachedAsync(
        TenantId tenant, BusinessView business, ServiceView service, ResourceView resource, DateOnly day, TimeZoneInfo zone, CancellationToken cancellationToken)
        => cache.GetOrCreateAsync(
            // TenantCacheKeys' documented form, tenant:{id}:{key}, written as one string (the id is a valid TenantId already).
            string.Create(CultureInfo.InvariantCulture, $"{TenantCacheKeys.Prefix}{tenant.Value}:availability:{service.Id:N}:{resource.Id:N}:{day:yyyy-MM-dd}"),
            (Query: this, Tenant: tenant, Business: business, Service: service, Resource: resource, Day: day, Zone: zone),
            static (s, ct) => new ValueTask<AvailabilityView>(s.Query.ComputeAsync(s.Tenant, s.Business, s.Service, s.Resource, s.Day, s.Zone, null, ct)),
            Entry,
            EntryTags.Availability(tenant, resource.Id, day),
            cancellationToken);

    /// <summary>Drops the cached availability of a resource on a local day on every instance (after a booking of it changed).</summary>
    public ValueTask InvalidateAsync(TenantId tenant, Guid resource, DateOnly day, CancellationToken cancellationToken)
        => cache.RemoveByTagAsync(Tag(tenant, resource, day), cancellationToken);

    private async Task<AvailabilityView> ComputeAsync(
        TenantId tenant, BusinessView business, ServiceView service, ResourceView resource, DateOnly day, TimeZoneInfo zone, ShardConsistencyToken? token, CancellationToken ct)
    {
        var hours = resource.Hours.FirstOrDefault(h => h.Weekday == (int)day.DayOfWeek);
        var from = Availability.ToUtc(day, TimeOnly.MinValue, zone) ?? new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        void Build(NpgsqlBatch batch) => batch.BatchCommands.Add(
            new NpgsqlBatchCommand("SELECT lower(during), upper(during) FROM booking_slots WHERE resource_id = $1 AND NOT cancelled AND during && tstzrange($2, $3)")
            {
                Parameters = { new() { Value = resource.Id }, new() { Value = from.UtcDateTime }, new() { Value = from.UtcDateTime.AddDays(2) } },
            });
        static async Task<List<(DateTimeOffset, DateTimeOffset)>> ReadAsync(NpgsqlDataReader reader, CancellationToken ct2)
        {
            var list = new List<(DateTimeOffset, DateTimeOffset)>();
            while (await reader.ReadAsync(ct2))
            {
                list.Add((reader.GetFieldValue<DateTimeOffset>(0), reader.GetFieldValue<DateTimeOffset>(1)));
            }

            return list;
        }

        // With the client's token: a replica that has its write. Without (filling the shared cache): the primary, so that
        // an entry invalidated by a booking is never refilled from a replica that has not replayed that booking yet.
        var taken = token is null
            ? await router.ReadBatchFromPrimaryAsync(tenant, Build, ReadAsync, ct)
            : await router.ReadBatchAsync(tenant, Build, ReadAsync, token, ct);
        var slots = Availability.FreeSlots(day, zone, hours, business.SlotMinutes, service.DurationMinutes, taken, DateTimeOffset.UtcNow);
        return new AvailabilityView(service.Id, resource.Id, day, business.TimeZone, slots);
    }
}

/// <summary>An availability entry's JSON, valid until <paramref name="ValidUntil"/> (when its earliest start time passes).</summary>
internal sealed record SerializedAvailability(byte[] Bytes, DateTimeOffset ValidUntil);
