using System.Globalization;
using System.Text;
using System.Text.Json;

namespace BookingHost.Realtime;

/// <summary>
/// An event as it goes to clients: the Server-Sent Events frame, formatted once and shared by every stream that gets
/// it, plus what the streams filter on.
/// </summary>
internal sealed class EventFrame
{
    private EventFrame(string tenant, string? type, string? location, Guid? customerId, DateTimeOffset occurredAt, byte[] bytes)
    {
        Tenant = tenant;
        Type = type;
        Location = location;
        CustomerId = customerId;
        OccurredAt = occurredAt;
        Bytes = bytes;
    }

    /// <summary>A comment frame sent to every stream to keep it open.</summary>
    public static EventFrame Heartbeat { get; } = new(string.Empty, null, null, null, default, ":\n\n"u8.ToArray());

    public string Tenant { get; }

    /// <summary>The event type, or <see langword="null"/> for a heartbeat.</summary>
    public string? Type { get; }

    public string? Location { get; }

    /// <summary>The <c>customerId</c> of the event's data, when it has one (a customer sees their own booking events).</summary>
    public Guid? CustomerId { get; }

    public DateTimeOffset OccurredAt { get; }

    public bool IsHeartbeat => Type is null;

    public bool IsQueueEvent => Type?.StartsWith("queue.", StringComparison.Ordinal) == true;

    /// <summary>The UTF-8 frame: <c>id:</c>, <c>event:</c>, one <c>data:</c> line of JSON, blank line.</summary>
    public byte[] Bytes { get; }

    /// <summary>Whether the type can go on an <c>event:</c> line.</summary>
    public static bool IsValidType(string? type)
        => !string.IsNullOrEmpty(type) && type.Length <= 100 && type.AsSpan().IndexOfAny('\r', '\n') < 0;

    /// <summary>Serializes an event to UTF-8 JSON (also what goes over Redis).</summary>
    public static byte[] Serialize(BookingEvent bookingEvent) => JsonSerializer.SerializeToUtf8Bytes(bookingEvent, JsonSerializerOptions.Web);

    /// <summary>Makes the frame of an event whose UTF-8 JSON is <paramref name="json"/> (compact JSON has no line breaks).</summary>
    public static EventFrame Create(BookingEvent bookingEvent, ReadOnlySpan<byte> json)
    {
        // One array: the id and event lines, the JSON copied as it is, the blank line.
        var head = string.Create(CultureInfo.InvariantCulture, $"id: {bookingEvent.Id:D}\nevent: {bookingEvent.Type}\ndata: ");
        var bytes = new byte[Encoding.UTF8.GetByteCount(head) + json.Length + 2];
        var written = Encoding.UTF8.GetBytes(head, bytes);
        json.CopyTo(bytes.AsSpan(written));
        bytes[^2] = (byte)'\n';
        bytes[^1] = (byte)'\n';
        return new EventFrame(bookingEvent.Tenant, bookingEvent.Type, bookingEvent.Location, CustomerOf(bookingEvent.Data), bookingEvent.OccurredAt, bytes);
    }

    /// <summary>Reads an event received from Redis (UTF-8 JSON); <see langword="null"/> when it is not one.</summary>
    public static EventFrame? Parse(ReadOnlySpan<byte> json)
    {
        var bookingEvent = JsonSerializer.Deserialize<BookingEvent>(json, JsonSerializerOptions.Web);
        return bookingEvent is null || string.IsNullOrEmpty(bookingEvent.Tenant) || !IsValidType(bookingEvent.Type)
            ? null
            : Create(bookingEvent, json.IndexOfAny((byte)'\r', (byte)'\n') < 0 ? json : Serialize(bookingEvent));
    }

    private static Guid? CustomerOf(JsonElement data)
        => data.ValueKind == JsonValueKind.Object
            && data.TryGetProperty("customerId", out var customer)
            && customer.ValueKind == JsonValueKind.String
            && customer.TryGetGuid(out var id)
            ? id
            : null;
}
