using System.Globalization;
using BookingHost.Auth;
using BookingHost.Domain;
using BookingHost.Idempotency;
using BookingHost.Realtime;
using Scaling.Tenancy;
using Scaling.Tenancy.Resolution;

namespace BookingHost.Api;

/// <summary>Availability search and bookings: create (no double booking: the exclusion constraint decides), get, list, cancel, complete.</summary>
public static class BookingEndpoints
{
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
        var errors = new List<(string, string)>();
        if (serviceId is null)
        {
            errors.Add(("serviceId", "serviceId is required."));
        }

        if (resourceId is null)
        {
            errors.Add(("resourceId", "resourceId is required."));
        }

        if (!DateOnly.TryParseExact(date, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
        {
            errors.Add(("date", "date is required, as yyyy-MM-dd."));
        }
        else if (OutsideHorizon(day, deps.Settings.BookingMonthsAhead))
        {
            errors.Add(("date", $"date must be between yesterday and {deps.Settings.BookingMonthsAhead} months ahead (the booking horizon)."));
        }

        if (errors.Count > 0)
        {
            return Problems.Validation([.. errors]);
        }

        var (business, service, resource, error) = await deps.LoadAsync(tenant, serviceId!.Value, resourceId!.Value, ct);
        if (error is not null)
        {
            return error;
        }

        // Written as made once per cached entry (the same JSON Results.Ok would write, without serializing it again).
        return Results.Bytes(await deps.Availability.GetJsonAsync(tenant.Id, business!, service!, resource!, day, ConsistencyTokens.Read(http), ct), "application/json; charset=utf-8");
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
        var result = await deps.Bookings.CreateAsync(tenant.Id, booking, ct);
        if (!result.Value)
        {
            return Problems.Conflict($"{resource.Name} is already booked at an overlapping time; pick another slot.");
        }

        await ResponseBarrier.DeferAsync(http, InvalidateThenAnnounceAsync(deps, tenant.Id, resource.Id, localDay, BookingEvent.Create(tenant.Id.Value, "booking.created", null, booking), ct));
        ConsistencyTokens.Write(http, result.Token);
        return Results.Created($"/api/v1/bookings/{booking.Id}", booking);
    }

    private static async Task<IResult> GetAsync(HttpContext http, Guid id, BookingDeps deps, CancellationToken ct)
    {
        var tenant = http.GetRequiredTenant();
        var booking = await deps.Bookings.GetAsync(tenant.Id, id, ConsistencyTokens.Read(http), ct);

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
            if (BookingCursor.Decode(cursor) is not { } decoded)
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

        var items = await deps.Bookings.ListAsync(tenant.Id, customer, fromTime, toTime, after, size + 1, ConsistencyTokens.Read(http), ct);
        var page = items.Take(size).ToArray();
        return Results.Ok(new BookingPage(page, items.Count > size ? BookingCursor.Encode(page[^1].StartsAt, page[^1].Id) : null));
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

        var result = await deps.Bookings.ChangeStatusAsync(tenant.Id, id, status, staff ? null : me, ct);
        if (result.Value is not { } booking)
        {
            // Not changed: someone else's booking, or none, is "not found" for every verb (as for GET); only a booking
            // the caller can see but that is no longer confirmed is a conflict.
            var current = await deps.Bookings.GetAsync(tenant.Id, id, ConsistencyTokens.Read(http), ct);
            return current is not null && CanSee(http, current)
                ? Problems.Conflict($"Booking {id} is {current.Status}, not confirmed, so it cannot be {status}.")
                : Problems.NotFound($"No booking {id} of yours in this business.");
        }

        DateOnly? day = await deps.Catalog.GetBusinessAsync(tenant, ct) is { } business
            ? DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(booking.StartsAt, CatalogStore.Zone(business)).DateTime)
            : null;
        await ResponseBarrier.DeferAsync(http, InvalidateThenAnnounceAsync(deps, tenant.Id, booking.ResourceId, day, BookingEvent.Create(tenant.Id.Value, "booking." + status, null, booking), ct));
        ConsistencyTokens.Write(http, result.Token);
        return Results.Ok(booking);
    }

    /// <summary>
    /// Drops the resource's cached availability of <paramref name="day"/> on every instance, then announces the change
    /// (so that a client that reads availability on the event finds it changed). Done before the response leaves; with an
    /// Idempotency-Key, while the response is being stored (<see cref="ResponseBarrier"/>).
    /// </summary>
    private static async ValueTask InvalidateThenAnnounceAsync(BookingDeps deps, TenantId tenant, Guid resource, DateOnly? day, BookingEvent change, CancellationToken ct)
    {
        if (day is { } localDay)
        {
            await deps.Availability.InvalidateAsync(tenant, resource, localDay, ct);
        }

        await deps.Events.PublishAsync(change, ct);
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

    /// <summary>Whether an availability day lies outside the booking horizon (a day of slack for time zones behind UTC).</summary>
    private static bool OutsideHorizon(DateOnly day, int monthsAhead)
    {
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        return day < today.AddDays(-1) || day > today.AddMonths(monthsAhead).AddDays(1);
    }

    private static bool CanSee(HttpContext http, BookingView booking)
        => http.User.IsBusinessStaff() || http.User.GetUserId() == booking.CustomerId;
}
