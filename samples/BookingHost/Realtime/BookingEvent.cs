using System.Text.Json;

namespace BookingHost.Realtime;

/// <summary>
/// Something that happened in a business that clients watch live: a booking created, cancelled or completed; a queue
/// token issued, called, started, completed or skipped.
/// </summary>
/// <param name="Tenant">The business.</param>
/// <param name="Type">The event type, e.g. <c>booking.created</c>, <c>queue.called</c>.</param>
/// <param name="Location">The queue location, for queue events; <see langword="null"/> otherwise.</param>
/// <param name="Data">The payload (serialized with the web defaults).</param>
/// <param name="Id">A unique id.</param>
/// <param name="OccurredAt">When it happened (UTC), for delivery latency.</param>
public sealed record BookingEvent(string Tenant, string Type, string? Location, JsonElement Data, Guid Id, DateTimeOffset OccurredAt)
{
    /// <summary>Creates an event with a new id, now.</summary>
    public static BookingEvent Create<T>(string tenant, string type, string? location, T data)
        => new(tenant, type, location, JsonSerializer.SerializeToElement(data, JsonSerializerOptions.Web), Guid.NewGuid(), DateTimeOffset.UtcNow);
}

/// <summary>Publishes events to every instance's live subscribers (Server-Sent Events).</summary>
public interface IBookingEvents
{
    /// <summary>
    /// Publishes an event; never throws for a delivery problem (events are best-effort, the database is the truth), and
    /// never makes the caller wait for a remote delivery: the returned task completes once the event is handed on.
    /// </summary>
    Task PublishAsync(BookingEvent bookingEvent, CancellationToken cancellationToken = default);
}
