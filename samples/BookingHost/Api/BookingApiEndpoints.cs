namespace BookingHost.Api;

/// <summary>Maps the booking API: the catalog, availability and bookings, walk-in queues and platform administration.</summary>
public static class BookingApiEndpoints
{
    /// <summary>Maps the domain's endpoints under <c>/api/v1</c>.</summary>
    public static IEndpointRouteBuilder MapBookingApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapCatalog();
        endpoints.MapBookings();
        endpoints.MapQueues();
        endpoints.MapPlatform();
        return endpoints;
    }
}
