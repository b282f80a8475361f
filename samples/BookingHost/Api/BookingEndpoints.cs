using System.Globalization;
using System.Text;
using BookingHost.Auth;
using BookingHost.Domain;
using BookingHost.Idempotency;
using BookingHost.Realtime;
using BookingHost.Reminders;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;
using Npgsql;
using Scaling.Cache;
using Scaling.Tenancy;
using Scaling.Tenancy.Resolution;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Api;

/// <summary>Availability search and bookings: create (no double booking: the exclusion constraint decides), get, list, cancel, complete.</summary>
public static class BookingEndpoints
{
    private const string SelectBooking = "SELECT id, service_id, resource_id, customer_id, starts_at, ends_at, status, notes FROM bookings";

    /// <summary>The tag of one resource's availability on one local day.</summary>
    public static string AvailabilityTag(TenantId tenant, Guid resource, DateOnly day) => $"tenant:{tenant}:availability:{resource:N}:{day:yyyy-MM-dd}";

    /// <summary>Maps <c>/availability</c> and <c>/bookings</c>.</summary>
    public static void MapBookings(this IEndpointRouteBuilder api)
    {
        api.MapGet("/availability", GetAvailabilityAsync).RequireTenant();
        api.MapPost("/bookings", CreateAsync).RequireTenant().RequireAuthorization(BookingPolicies.SignedIn).WithIdempotency();
        api.MapGet("/bookings/{id:guid}", GetAsync).RequireTenant().RequireAuthorization(BookingPolicies.SignedIn);
        api.MapGet("/bookings", ListAsync).RequireTenant().RequireAuthorization(BookingPolicies.SignedIn);
        api.MapPost("/bookings/{id:guid}/cancel", (HttpContext http, Guid id, BookingDeps deps, CancellationToken ct) => ChangeStatusAsync(http, id, "cancelled", deps, ct))
            .RequireTenant().RequireAuthorization(BookingPolicies.SignedIn);
        api.MapPost("/bookings/{id:guid}/complete", (HttpContext http, Guid id, BookingDeps deps, CancellationToken ct) => ChangeStatusAsync(http, id, "completed", deps, ct))
            .RequireTenant().RequireAuthorization(BookingPolicies.BusinessStaff);
    }

    private static async Task<IResult> GetAvailabilityAsync(HttpContext http, Guid? serviceId, Guid? resourceId, string? date, BookingDeps deps, CancellationToken ct)
    {
        var tenant = http.GetRequiredTenant();
        if (serviceId is null || resourceId is null || !DateOnly.TryParseExact(date, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
        {
            return Problems.Validation(("query", "serviceId, resourceId and date (yyyy-MM-dd) are required."));
        }

        var (business, service, resource, error) = await deps.LoadAsync(tenant, serviceId.Value, resourceId.Value, ct);
        if (error is not null)
        {
            return error;
        }

        var zone = CatalogStore.Zone(business!);
        var token = ConsistencyTokens.Read(http);
        if (token is not null)
        {
            // The client has just written: compute from a replica that has its write, without the shared cache.
            return Results.Ok(await ComputeAvailabilityAsync(deps.Router, tenant.Id, business!, service!, resource!, day, zone, token, ct));
        }

        var view = await deps.Cache.GetOrCreateAsync(
            TenantCacheKeys.Key(tenant.Id.Value, $"availability:{service!.Id:N}:{resource!.Id:N}:{day:yyyy-MM-dd}"),
            ct2 => new ValueTask<AvailabilityView>(ComputeAvailabilityAsync(deps.Router, tenant.Id, business!, service, resource, day, zone, null, ct2)),
            new HybridCacheEntryOptions { Expiration = TimeSpan.FromSeconds(30), LocalCacheExpiration = TimeSpan.FromSeconds(30) },
            [AvailabilityTag(tenant.Id, resource.Id, day), CatalogStore.CatalogTag(tenant.Id)],
            ct);
        return Results.Ok(view with { Slots = view.Slots.Where(s => s > DateTimeOffset.UtcNow).ToArray() });
    }

    private static async Task<AvailabilityView> ComputeAvailabilityAsync(
        ShardRouter router, TenantId tenant, BusinessView business, ServiceView service, ResourceView resource, DateOnly day, TimeZoneInfo zone, ShardConsistencyToken? token, CancellationToken ct)
    {
        var hours = resource.Hours.FirstOrDefault(h => h.Weekday == (int)day.DayOfWeek);
        var from = Availability.ToUtc(day, TimeOnly.MinValue, zone) ?? new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        // With the client's token: a replica that has its write. Without (filling the shared cache): the primary, so that
        // an entry invalidated by a booking is never refilled from a replica that has not replayed that booking yet.
        Func<Func<NpgsqlConnection, CancellationToken, Task<List<(DateTimeOffset, DateTimeOffset)>>>, Task<List<(DateTimeOffset, DateTimeOffset)>>> run = token is null
            ? read => router.ReadFromPrimaryAsync(tenant, read, ct)
            : read => router.ReadAsync(tenant, read, token, ct);
        var taken = await run(async (c, ct2) =>
        {
            await using var command = new NpgsqlCommand(
                "SELECT lower(during), upper(during) FROM booking_slots WHERE resource_id = $1 AND NOT cancelled AND during && tstzrange($2, $3)",
                c);
            command.Parameters.Add(new() { Value = resource.Id });
            command.Parameters.Add(new() { Value = from.UtcDateTime });
            command.Parameters.Add(new() { Value = from.UtcDateTime.AddDays(2) });
            await using var reader = await command.ExecuteReaderAsync(ct2);
            var list = new List<(DateTimeOffset, DateTimeOffset)>();
            while (await reader.ReadAsync(ct2))
            {
                list.Add((reader.GetFieldValue<DateTimeOffset>(0), reader.GetFieldValue<DateTimeOffset>(1)));
            }

            return list;
        });
        var slots = Availability.FreeSlots(day, zone, hours, business.SlotMinutes, service.DurationMinutes, taken, DateTimeOffset.UtcNow);
        return new AvailabilityView(service.Id, resource.Id, day, business.TimeZone, slots);
    }

    private static async Task<IResult> CreateAsync(HttpContext http, CreateBookingRequest body, BookingDeps deps, CancellationToken ct)
    {
        var tenant = http.GetRequiredTenant();
        var user = http.User;
        var errors = new List<(string, string)>();
        if (body.ServiceId is null)
        {
            errors.Add(("serviceId", "serviceId is required."));
        }

        if (body.ResourceId is null)
        {
            errors.Add(("resourceId", "resourceId is required."));
        }

        var now = DateTimeOffset.UtcNow;
        if (body.StartsAt is not { } startsAt)
        {
            errors.Add(("startsAt", "startsAt is required (an ISO 8601 date and time with offset)."));
            startsAt = default;
        }
        else if (startsAt <= now)
        {
            errors.Add(("startsAt", "startsAt is in the past; bookings are for the future."));
        }
        else if (startsAt > now.AddMonths(deps.Settings.BookingMonthsAhead))
        {
            errors.Add(("startsAt", $"startsAt is more than {deps.Settings.BookingMonthsAhead} months ahead."));
        }

        if (Text.Check(body.Notes, "notes", 500, required: false) is { } notesError)
        {
            errors.Add(("notes", notesError));
        }

        Guid customer;
        if (user.IsBusinessStaff())
        {
            customer = body.CustomerId ?? Guid.Empty;
            if (customer == Guid.Empty)
            {
                errors.Add(("customerId", "customerId is required when staff book on a customer's behalf."));
            }
        }
        else if (user.GetRole() == BookingRoles.Customer && user.GetUserId() is { } self)
        {
            if (body.CustomerId is { } other && other != self)
            {
                return Problems.Forbidden("A customer books for themselves only.");
            }

            customer = self;
        }
        else
        {
            return Problems.Forbidden("Only customers, and staff of this business on a customer's behalf, can book.");
        }

        if (errors.Count > 0)
        {
            return Problems.Validation([.. errors]);
        }

        var (business, service, resource, error) = await deps.LoadAsync(tenant, body.ServiceId!.Value, body.ResourceId!.Value, ct);
        if (error is not null)
        {
            return error;
        }

        var zone = CatalogStore.Zone(business!);
        var endsAt = startsAt + TimeSpan.FromMinutes(service!.DurationMinutes);
        if (!Availability.WithinHours(startsAt, endsAt, zone, resource!.Hours, out var localDay))
        {
            return Problems.Validation(("startsAt", $"{startsAt:O} to {endsAt:O} is outside {resource.Name}'s working hours ({business!.TimeZone})."));
        }

        var booking = new BookingView(Guid.NewGuid(), service.Id, resource.Id, customer, startsAt.ToUniversalTime(), endsAt.ToUniversalTime(), "confirmed", body.Notes);
        ShardWriteResult<int> result;
        try
        {
            result = await deps.Router.WriteAsync(tenant.Id, async (tx, c) =>
            {
                await using var batch = new NpgsqlBatch(tx.Connection, tx);

                // Requests for one resource queue up here instead of piling up on the exclusion constraint, where
                // concurrent inserts of overlapping ranges wait on each other and deadlock; the constraint still decides.
                var queue = new NpgsqlBatchCommand("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))");
                queue.Parameters.Add(new() { Value = $"booking:{tenant.Id}:{booking.ResourceId:N}" });
                batch.BatchCommands.Add(queue);
                var insert = new NpgsqlBatchCommand(
                    "INSERT INTO bookings (tenant_id, id, resource_id, service_id, customer_id, starts_at, ends_at, status, notes) VALUES ($1, $2, $3, $4, $5, $6, $7, 'confirmed', $8)");
                insert.Parameters.Add(new() { Value = tenant.Id.Value });
                insert.Parameters.Add(new() { Value = booking.Id });
                insert.Parameters.Add(new() { Value = booking.ResourceId });
                insert.Parameters.Add(new() { Value = booking.ServiceId });
                insert.Parameters.Add(new() { Value = booking.CustomerId });
                insert.Parameters.Add(new() { Value = booking.StartsAt.UtcDateTime });
                insert.Parameters.Add(new() { Value = booking.EndsAt.UtcDateTime });
                insert.Parameters.Add(new() { Value = (object?)booking.Notes ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
                batch.BatchCommands.Add(insert);
                var slot = new NpgsqlBatchCommand("INSERT INTO booking_slots (tenant_id, booking_id, resource_id, during) VALUES ($1, $2, $3, tstzrange($4, $5, '[)'))");
                slot.Parameters.Add(new() { Value = tenant.Id.Value });
                slot.Parameters.Add(new() { Value = booking.Id });
                slot.Parameters.Add(new() { Value = booking.ResourceId });
                slot.Parameters.Add(new() { Value = booking.StartsAt.UtcDateTime });
                slot.Parameters.Add(new() { Value = booking.EndsAt.UtcDateTime });
                batch.BatchCommands.Add(slot);
                await batch.ExecuteNonQueryAsync(c);
                await ReminderJobs.EnqueueForBookingAsync(tx, tenant.Id, booking.Id, booking.StartsAt, c);
                return 1;
            }, cancellationToken: ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ExclusionViolation)
        {
            return Problems.Conflict($"{resource.Name} is already booked at an overlapping time; pick another slot.");
        }

        await deps.Cache.RemoveByTagAsync(AvailabilityTag(tenant.Id, resource.Id, localDay), ct);
        await deps.Events.PublishAsync(BookingEvent.Create(tenant.Id.Value, "booking.created", null, booking), ct);
        ConsistencyTokens.Write(http, result.Token);
        return Results.Created($"/api/v1/bookings/{booking.Id}", booking);
    }

    private static async Task<IResult> GetAsync(HttpContext http, Guid id, BookingDeps deps, CancellationToken ct)
    {
        var tenant = http.GetRequiredTenant();
        var booking = await deps.Router.ReadAsync(tenant.Id, async (c, ct2) =>
        {
            await using var command = new NpgsqlCommand(SelectBooking + " WHERE id = $1", c);
            command.Parameters.Add(new() { Value = id });
            await using var reader = await command.ExecuteReaderAsync(ct2);
            return await reader.ReadAsync(ct2) ? ReadBooking(reader) : null;
        }, ConsistencyTokens.Read(http), ct);

        // Another customer's booking is "not found": its existence is not revealed.
        return booking is not null && CanSee(http, booking) ? Results.Ok(booking) : Problems.NotFound($"No booking {id} of yours in this business.");
    }

    private static async Task<IResult> ListAsync(HttpContext http, string? from, string? to, string? cursor, int? limit, BookingDeps deps, CancellationToken ct)
    {
        var tenant = http.GetRequiredTenant();
        var size = limit ?? 20;
        if (size is < 1 or > 100)
        {
            return Problems.Validation(("limit", "limit must be between 1 and 100."));
        }

        if (!TryParseTime(from, out var fromTime))
        {
            return Problems.Validation(("from", "from must be an ISO 8601 date or date and time."));
        }

        if (!TryParseTime(to, out var toTime))
        {
            return Problems.Validation(("to", "to must be an ISO 8601 date or date and time."));
        }

        (DateTimeOffset At, Guid Id)? after = null;
        if (cursor is not null)
        {
            if (DecodeCursor(cursor) is not { } decoded)
            {
                return Problems.Validation(("cursor", "cursor is not a cursor this API returned."));
            }

            after = decoded;
        }

        Guid? customer = http.User.IsBusinessStaff() ? null : http.User.GetUserId();
        if (customer is null && !http.User.IsBusinessStaff())
        {
            return Problems.Forbidden("Only customers and this business's staff can list bookings.");
        }

        var items = await deps.Router.ReadAsync(tenant.Id, async (c, ct2) =>
        {
            var sql = new StringBuilder(SelectBooking + " WHERE true");
            var command = new NpgsqlCommand { Connection = c };
            void Add(string clause, object value)
            {
                command.Parameters.Add(new() { Value = value });
                sql.Append(CultureInfo.InvariantCulture, $" AND {clause.Replace("@", "$" + command.Parameters.Count.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)}");
            }

            if (customer is { } me)
            {
                Add("customer_id = @", me);
            }

            if (fromTime is { } ft)
            {
                Add("starts_at >= @", ft.UtcDateTime);
            }

            if (toTime is { } tt)
            {
                Add("starts_at < @", tt.UtcDateTime);
            }

            if (after is { } a)
            {
                command.Parameters.Add(new() { Value = a.At.UtcDateTime });
                command.Parameters.Add(new() { Value = a.Id });
                sql.Append(CultureInfo.InvariantCulture, $" AND (starts_at, id) > (${command.Parameters.Count - 1}, ${command.Parameters.Count})");
            }

            sql.Append(CultureInfo.InvariantCulture, $" ORDER BY starts_at, id LIMIT {size + 1}");
            command.CommandText = sql.ToString();
            await using (command)
            {
                await using var reader = await command.ExecuteReaderAsync(ct2);
                var list = new List<BookingView>();
                while (await reader.ReadAsync(ct2))
                {
                    list.Add(ReadBooking(reader));
                }

                return list;
            }
        }, ConsistencyTokens.Read(http), ct);
        var page = items.Take(size).ToArray();
        return Results.Ok(new BookingPage(page, items.Count > size ? EncodeCursor(page[^1].StartsAt, page[^1].Id) : null));
    }

    private static async Task<IResult> ChangeStatusAsync(HttpContext http, Guid id, string status, BookingDeps deps, CancellationToken ct)
    {
        var tenant = http.GetRequiredTenant();
        var staff = http.User.IsBusinessStaff();
        var me = http.User.GetUserId();
        if (!staff && (me is null || http.User.GetRole() != BookingRoles.Customer))
        {
            return Problems.Forbidden("Only the booking's customer or this business's staff can change it.");
        }

        var result = await deps.Router.WriteAsync(tenant.Id, async (tx, c) =>
        {
            await using var update = new NpgsqlCommand(
                "UPDATE bookings SET status = $2 WHERE id = $1 AND status = 'confirmed' AND ($3::uuid IS NULL OR customer_id = $3) RETURNING id, service_id, resource_id, customer_id, starts_at, ends_at, status, notes",
                tx.Connection,
                tx);
            update.Parameters.Add(new() { Value = id });
            update.Parameters.Add(new() { Value = status });
            update.Parameters.Add(new() { Value = staff ? DBNull.Value : me!.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Uuid });
            BookingView? changed = null;
            await using (var reader = await update.ExecuteReaderAsync(c))
            {
                if (await reader.ReadAsync(c))
                {
                    changed = ReadBooking(reader);
                }
            }

            if (changed is not null && status == "cancelled")
            {
                await using var slot = new NpgsqlCommand("UPDATE booking_slots SET cancelled = true WHERE booking_id = $1", tx.Connection, tx);
                slot.Parameters.Add(new() { Value = id });
                await slot.ExecuteNonQueryAsync(c);
                await ReminderJobs.CancelForBookingAsync(tx, tenant.Id, id, c);
            }

            return changed;
        }, cancellationToken: ct);

        if (result.Value is not { } booking)
        {
            return Problems.Conflict($"Booking {id} is not a confirmed booking of yours in this business (it may not exist, or be cancelled or completed already).");
        }

        if (await deps.Catalog.GetBusinessAsync(tenant, ct) is { } business)
        {
            var day = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(booking.StartsAt, CatalogStore.Zone(business)).DateTime);
            await deps.Cache.RemoveByTagAsync(AvailabilityTag(tenant.Id, booking.ResourceId, day), ct);
        }

        await deps.Events.PublishAsync(BookingEvent.Create(tenant.Id.Value, "booking." + status, null, booking), ct);
        ConsistencyTokens.Write(http, result.Token);
        return Results.Ok(booking);
    }

    private static bool TryParseTime(string? text, out DateTimeOffset? time)
    {
        time = null;
        if (text is null)
        {
            return true;
        }

        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            return false;
        }

        time = parsed;
        return true;
    }

    private static bool CanSee(HttpContext http, BookingView booking)
        => http.User.IsBusinessStaff() || http.User.GetUserId() == booking.CustomerId;

    private static BookingView ReadBooking(NpgsqlDataReader r) => new(
        r.GetGuid(0), r.GetGuid(1), r.GetGuid(2), r.GetGuid(3), r.GetFieldValue<DateTimeOffset>(4), r.GetFieldValue<DateTimeOffset>(5), r.GetString(6), r.IsDBNull(7) ? null : r.GetString(7));

    private static string EncodeCursor(DateTimeOffset at, Guid id)
        => Convert.ToBase64String(Encoding.ASCII.GetBytes($"{at.UtcTicks.ToString(CultureInfo.InvariantCulture)}|{id:N}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static (DateTimeOffset, Guid)? DecodeCursor(string cursor)
    {
        try
        {
            var text = cursor.Replace('-', '+').Replace('_', '/');
            text = text.PadRight(text.Length + ((4 - (text.Length % 4)) % 4), '=');
            var parts = Encoding.ASCII.GetString(Convert.FromBase64String(text)).Split('|');
            return parts.Length == 2 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) && Guid.TryParseExact(parts[1], "N", out var id)
                && ticks >= DateTimeOffset.MinValue.UtcTicks && ticks <= DateTimeOffset.MaxValue.UtcTicks
                ? (new DateTimeOffset(ticks, TimeSpan.Zero), id)
                : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>What the booking endpoints use (one parameter instead of six).</summary>
public sealed class BookingDeps(ShardRouter router, HybridCache cache, CatalogStore catalog, IBookingEvents events, IOptions<BookingHostOptions> settings)
{
    /// <summary>The shard router.</summary>
    public ShardRouter Router => router;

    /// <summary>The cache.</summary>
    public HybridCache Cache => cache;

    /// <summary>The catalog.</summary>
    public CatalogStore Catalog => catalog;

    /// <summary>The event publisher.</summary>
    public IBookingEvents Events => events;

    /// <summary>The host settings.</summary>
    public BookingHostOptions Settings => settings.Value;

    /// <summary>Loads the business, the service and the resource, or a 400/404 problem.</summary>
    public async Task<(BusinessView? Business, ServiceView? Service, ResourceView? Resource, IResult? Error)> LoadAsync(TenantInfo tenant, Guid serviceId, Guid resourceId, CancellationToken ct)
    {
        var business = await catalog.GetBusinessAsync(tenant, ct);
        if (business is null)
        {
            return (null, null, null, Problems.NotFound("The business has no settings yet."));
        }

        var service = (await catalog.GetServicesAsync(tenant.Id, ct)).FirstOrDefault(s => s.Id == serviceId);
        var resource = (await catalog.GetResourcesAsync(tenant.Id, ct)).FirstOrDefault(r => r.Id == resourceId);
        return service is null ? (business, null, null, Problems.Validation(("serviceId", $"serviceId {serviceId} is not a service of this business.")))
            : resource is null ? (business, service, null, Problems.Validation(("resourceId", $"resourceId {resourceId} is not a staff member or room of this business.")))
            : (business, service, resource, null);
    }
}
