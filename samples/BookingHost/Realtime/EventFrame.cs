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
        => new(bookingEvent.Tenant, bookingEvent.Type, bookingEvent.Location, CustomerOf(bookingEvent.Data), bookingEvent.OccurredAt, Frame(bookingEvent.Id, bookingEvent.Type, json));

    /// <summary>
    /// Reads an event received from Redis (UTF-8 JSON, as <see cref="Serialize"/> writes it); <see langword="null"/>
    /// when it is not one. Throws <see cref="JsonException"/> when the JSON is malformed or a member has the wrong
    /// type, as deserializing a <see cref="BookingEvent"/> would.
    /// </summary>
    /// <remarks>
    /// One pass of a <see cref="Utf8JsonReader"/> over the message: the members the streams filter on are read, the
    /// payload is only looked into for its <c>customerId</c>, and the frame carries the JSON as it arrived. An event
    /// was deserialized (its payload into a <see cref="JsonDocument"/>) and its frame built through a string before.
    /// Member names are matched as the web defaults match them (case-insensitively); unknown members are skipped.
    /// </remarks>
    public static EventFrame? Parse(ReadOnlySpan<byte> json)
    {
        if (json.IndexOfAny((byte)'\r', (byte)'\n') >= 0)
        {
            // Not compact (no instance writes that): read it in full and frame it written again on one line.
            var bookingEvent = JsonSerializer.Deserialize<BookingEvent>(json, JsonSerializerOptions.Web);
            return bookingEvent is null || string.IsNullOrEmpty(bookingEvent.Tenant) || !IsValidType(bookingEvent.Type)
                ? null
                : Create(bookingEvent, Serialize(bookingEvent));
        }

        var reader = new Utf8JsonReader(json);
        reader.Read(); // empty input throws here, as deserializing it does
        if (reader.TokenType == JsonTokenType.Null)
        {
            return reader.Read() ? throw new JsonException("A booking event is one JSON value.") : null; // "null" is no event
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException($"A booking event is a JSON object, not {reader.TokenType}.");
        }

        string? tenant = null, type = null, location = null;
        Guid id = default, customer = default;
        var hasCustomer = false;
        DateTimeOffset occurredAt = default;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var member = Member(ref reader);
            reader.Read();
            switch (member)
            {
                case Members.Tenant:
                    tenant = reader.TokenType == JsonTokenType.Null ? null : String(ref reader, "tenant");
                    break;
                case Members.Type:
                    type = reader.TokenType == JsonTokenType.Null ? null : String(ref reader, "type");
                    break;
                case Members.Location:
                    location = reader.TokenType == JsonTokenType.Null ? null : String(ref reader, "location");
                    break;
                case Members.Id:
                    id = reader.TokenType == JsonTokenType.String && reader.TryGetGuid(out var value)
                        ? value
                        : throw new JsonException("A booking event's id is not a GUID.");
                    break;
                case Members.OccurredAt:
                    occurredAt = reader.TokenType == JsonTokenType.String && reader.TryGetDateTimeOffset(out var at)
                        ? at
                        : throw new JsonException("A booking event's occurredAt is not a date and time.");
                    break;
                case Members.Data:
                    hasCustomer = CustomerOf(ref reader, out customer);
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
        {
            throw new JsonException("A booking event is one JSON object.");
        }

        return string.IsNullOrEmpty(tenant) || !IsValidType(type)
            ? null
            : new EventFrame(tenant, type, location, hasCustomer ? customer : null, occurredAt, Frame(id, type!, json));
    }

    /// <summary>The frame's bytes: the id and event lines, the JSON as it is, the blank line.</summary>
    private static byte[] Frame(Guid id, string type, ReadOnlySpan<byte> json)
    {
        ReadOnlySpan<byte> idLine = "id: "u8, eventLine = "\nevent: "u8, dataLine = "\ndata: "u8;
        const int GuidLength = 36;
        var bytes = new byte[idLine.Length + GuidLength + eventLine.Length + Encoding.UTF8.GetByteCount(type) + dataLine.Length + json.Length + 2];
        var span = bytes.AsSpan();
        idLine.CopyTo(span);
        var at = idLine.Length;
        id.TryFormat(span[at..], out var written, "D");
        at += written;
        eventLine.CopyTo(span[at..]);
        at += eventLine.Length;
        at += Encoding.UTF8.GetBytes(type, span[at..]);
        dataLine.CopyTo(span[at..]);
        at += dataLine.Length;
        json.CopyTo(span[at..]);
        bytes[^2] = (byte)'\n';
        bytes[^1] = (byte)'\n';
        return bytes;
    }

    private enum Members
    {
        Other,
        Tenant,
        Type,
        Location,
        Data,
        Id,
        OccurredAt,
    }

    /// <summary>The members read, named as the web defaults write them.</summary>
    private static readonly (string Name, Members Member)[] KnownMembers =
    [
        ("tenant", Members.Tenant), ("type", Members.Type), ("location", Members.Location),
        ("data", Members.Data), ("id", Members.Id), ("occurredAt", Members.OccurredAt),
    ];

    private static Members Member(ref Utf8JsonReader reader)
    {
        foreach (var (name, member) in KnownMembers)
        {
            if (reader.ValueTextEquals(name))
            {
                return member;
            }
        }

        // Another spelling is compared without case, as the web defaults read names.
        var other = reader.GetString();
        foreach (var (name, member) in KnownMembers)
        {
            if (string.Equals(other, name, StringComparison.OrdinalIgnoreCase))
            {
                return member;
            }
        }

        return Members.Other;
    }

    private static string String(ref Utf8JsonReader reader, string member)
        => reader.TokenType == JsonTokenType.String
            ? reader.GetString()!
            : throw new JsonException($"A booking event's {member} is not a string.");

    /// <summary>Reads the payload (the reader on its first token), past its end; its top-level <c>customerId</c>, if a GUID.</summary>
    private static bool CustomerOf(ref Utf8JsonReader reader, out Guid customer)
    {
        customer = default;
        var found = false;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return false;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isCustomer = reader.ValueTextEquals("customerId"u8);
            reader.Read();
            if (isCustomer)
            {
                // The last one counts, as in a parsed document.
                found = reader.TokenType == JsonTokenType.String && reader.TryGetGuid(out customer);
            }
            else
            {
                reader.Skip();
            }
        }

        return found;
    }

    private static Guid? CustomerOf(JsonElement data)
        => data.ValueKind == JsonValueKind.Object
            && data.TryGetProperty("customerId", out var customer)
            && customer.ValueKind == JsonValueKind.String
            && customer.TryGetGuid(out var id)
            ? id
            : null;
}
