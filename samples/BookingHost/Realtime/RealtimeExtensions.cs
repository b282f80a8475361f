namespace BookingHost.Realtime;

/// <summary>PLACEHOLDER until the real-time work lands: events are dropped and no stream is mapped.</summary>
public static class RealtimeExtensions
{
    /// <summary>Registers <see cref="IBookingEvents"/>.</summary>
    public static IServiceCollection AddBookingRealtime(this IServiceCollection services, IConfiguration configuration)
        => services.AddSingleton<IBookingEvents, DroppedEvents>();

    /// <summary>Maps the event stream endpoints.</summary>
    public static IEndpointRouteBuilder MapBookingEvents(this IEndpointRouteBuilder endpoints) => endpoints;

    private sealed class DroppedEvents : IBookingEvents
    {
        public Task PublishAsync(BookingEvent bookingEvent, CancellationToken cancellationToken = default) => Task.CompletedTask;
    }
}
