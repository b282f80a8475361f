using BookingHost.Domain;
using BookingHost.Infrastructure;
using BookingHost.Realtime;
using Microsoft.Extensions.Options;
using Scaling.Tenancy;

namespace BookingHost.Api;

/// <summary>What the booking endpoints use (one parameter instead of five).</summary>
public sealed class BookingDeps(BookingStore bookings, AvailabilityQuery availability, CatalogStore catalog, IBookingEvents events, IOptions<BookingHostOptions> settings)
{
    /// <summary>The bookings.</summary>
    public BookingStore Bookings => bookings;

    /// <summary>The availability search.</summary>
    public AvailabilityQuery Availability => availability;

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

        var service = Find(await catalog.GetServicesAsync(tenant.Id, ct), serviceId, static s => s.Id);
        var resource = Find(await catalog.GetResourcesAsync(tenant.Id, ct), resourceId, static r => r.Id);
        return service is null ? (business, null, null, Problems.Validation(("serviceId", $"serviceId {serviceId} is not a service of this business.")))
            : resource is null ? (business, service, null, Problems.Validation(("resourceId", $"resourceId {resourceId} is not a staff member or room of this business.")))
            : (business, service, resource, null);
    }

    // A loop over the cached list (no closure per request, as FirstOrDefault with a captured id would make).
    private static T? Find<T>(List<T> items, Guid id, Func<T, Guid> idOf)
        where T : class
    {
        foreach (var item in items)
        {
            if (idOf(item) == id)
            {
                return item;
            }
        }

        return null;
    }
}
