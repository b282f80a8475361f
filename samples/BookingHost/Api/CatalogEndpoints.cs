using BookingHost.Auth;
using BookingHost.Domain;
using BookingHost.Idempotency;
using Scaling.Tenancy.Resolution;

namespace BookingHost.Api;

/// <summary>The business, its services and its staff/resources with working hours.</summary>
public static class CatalogEndpoints
{
    /// <summary>Maps <c>/business</c>, <c>/services</c>, <c>/resources</c>.</summary>
    public static void MapCatalog(this IEndpointRouteBuilder api)
    {
        api.MapGet("/business", async (HttpContext http, CatalogStore catalog, CancellationToken ct) =>
            await catalog.GetBusinessAsync(http.GetRequiredTenant(), ct) is { } business ? Results.Ok(business) : Problems.NotFound("The business has no settings yet."))
            .RequireTenant().WithName("GetBusiness");

        api.MapPut("/business", async (HttpContext http, UpdateBusinessRequest body, CatalogStore catalog, CancellationToken ct) =>
        {
            var errors = new List<(string, string)>();
            if (body.Name is not null && Text.Check(body.Name, "name", 200) is { } nameError)
            {
                errors.Add(("name", nameError));
            }

            if (body.TimeZone is not null && !TimeZoneInfo.TryFindSystemTimeZoneById(body.TimeZone, out _))
            {
                errors.Add(("timeZone", $"'{Truncate(body.TimeZone)}' is not a known IANA time zone (e.g. 'Europe/Berlin')."));
            }

            if (body.SlotMinutes is { } slot && (slot < 5 || slot > 120))
            {
                errors.Add(("slotMinutes", "slotMinutes must be between 5 and 120."));
            }

            if (errors.Count > 0)
            {
                return Problems.Validation([.. errors]);
            }

            var tenant = http.GetRequiredTenant().Id;
            ConsistencyTokens.Write(http, await catalog.UpdateBusinessAsync(tenant, body.Name, body.TimeZone, body.SlotMinutes, ct));
            return Results.NoContent();
        }).RequireTenant().RequireAuthorization(BookingPolicies.BusinessOwner);

        api.MapGet("/services", async (HttpContext http, CatalogStore catalog, CancellationToken ct)
            => Results.Ok(await catalog.GetServicesAsync(http.GetRequiredTenant().Id, ct))).RequireTenant();

        api.MapPost("/services", async (HttpContext http, CreateServiceRequest body, CatalogStore catalog, CancellationToken ct) =>
        {
            var errors = new List<(string, string)>();
            if (Text.Check(body.Name, "name", 200) is { } nameError)
            {
                errors.Add(("name", nameError));
            }

            if (body.DurationMinutes is not { } duration || duration < 5 || duration > 480)
            {
                errors.Add(("durationMinutes", "durationMinutes is required and must be between 5 and 480."));
            }

            if (body.PriceCents is not { } price || price < 0 || price > 10_000_000)
            {
                errors.Add(("priceCents", "priceCents is required and must be between 0 and 10,000,000."));
            }

            if (errors.Count > 0)
            {
                return Problems.Validation([.. errors]);
            }

            var tenant = http.GetRequiredTenant().Id;
            var service = new ServiceView(Guid.NewGuid(), body.Name!, body.DurationMinutes!.Value, body.PriceCents!.Value);
            ConsistencyTokens.Write(http, await catalog.AddServiceAsync(tenant, service, ct));
            return Results.Created($"/api/v1/services/{service.Id}", service);
        }).RequireTenant().RequireAuthorization(BookingPolicies.BusinessOwner).WithIdempotency();

        api.MapGet("/resources", async (HttpContext http, CatalogStore catalog, CancellationToken ct)
            => Results.Ok(await catalog.GetResourcesAsync(http.GetRequiredTenant().Id, ct))).RequireTenant();

        api.MapPost("/resources", async (HttpContext http, CreateResourceRequest body, CatalogStore catalog, CancellationToken ct) =>
        {
            var errors = new List<(string, string)>();
            if (Text.Check(body.Name, "name", 200) is { } nameError)
            {
                errors.Add(("name", nameError));
            }

            if (body.Kind is not ("staff" or "room"))
            {
                errors.Add(("kind", "kind is required and must be 'staff' or 'room'."));
            }

            var hours = body.Hours ?? [];
            if (hours.Count > 7 || hours.Select(h => h.Weekday).Distinct().Count() != hours.Count)
            {
                errors.Add(("hours", "hours has at most one entry per weekday."));
            }

            foreach (var h in hours)
            {
                if (h.Weekday is < 0 or > 6 || h.Closes <= h.Opens)
                {
                    errors.Add(("hours", $"Weekday {h.Weekday}: the weekday must be 0 (Sunday) to 6 and closes must be after opens."));
                }
            }

            if (errors.Count > 0)
            {
                return Problems.Validation([.. errors]);
            }

            var tenant = http.GetRequiredTenant().Id;
            var resource = new ResourceView(Guid.NewGuid(), body.Name!, body.Kind!, hours);
            ConsistencyTokens.Write(http, await catalog.AddResourceAsync(tenant, resource, ct));
            return Results.Created($"/api/v1/resources/{resource.Id}", resource);
        }).RequireTenant().RequireAuthorization(BookingPolicies.BusinessOwner).WithIdempotency();
    }

    internal static string Truncate(string value) => value.Length <= 64 ? value : value[..64] + "…";
}
