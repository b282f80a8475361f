using System.Text;
using System.Text.Json;
using BookingHost.Realtime;

namespace BookingHost.Tests.Realtime;

/// <summary>
/// An event received from another instance is framed exactly as the publishing instance framed it for its own streams,
/// and what the streams filter on is read as deserializing the event would read it.
/// </summary>
public sealed class EventFrameTests
{
    private static readonly JsonSerializerOptions Indented = new(JsonSerializerOptions.Web) { WriteIndented = true };
    private static readonly Guid Customer = Guid.Parse("6f1c2a52-3a7e-4c1f-9a51-0f6e9b2b7c11");

    [Fact]
    public void A_received_event_is_framed_as_its_publisher_framed_it()
    {
        BookingEvent[] events =
        [
            BookingEvent.Create("salon-1", "booking.created", null, new { bookingId = Guid.NewGuid(), customerId = Customer, notes = "line\nbreak \"quoted\" é ✂" }),
            BookingEvent.Create("salon-1", "booking.cancelled", null, new { customerId = "not a guid" }),
            BookingEvent.Create("barber-ü", "queue.called", "front-desk", new { number = 7, nested = new { customerId = Customer } }),
            BookingEvent.Create("clinic", "queue.issued", "back", new[] { 1, 2, 3 }),
            BookingEvent.Create<object?>("clinic", "booking.créé", null, null),
            BookingEvent.Create("rooms", "booking.created", null, new { }),
        ];

        foreach (var published in events)
        {
            var json = EventFrame.Serialize(published);

            var own = EventFrame.Create(published, json);
            var received = EventFrame.Parse(json);

            Assert.NotNull(received);
            var expected = Encoding.UTF8.GetBytes($"id: {published.Id:D}\nevent: {published.Type}\ndata: ").Concat(json).Concat("\n\n"u8.ToArray()).ToArray();
            Assert.Equal(expected, own.Bytes);
            Assert.Equal(expected, received.Bytes);
            Assert.Equal(published.Tenant, received.Tenant);
            Assert.Equal(published.Type, received.Type);
            Assert.Equal(published.Location, received.Location);
            Assert.Equal(published.OccurredAt, received.OccurredAt);
            Assert.Equal(published.Type.StartsWith("queue.", StringComparison.Ordinal), received.IsQueueEvent);
            Assert.Equal(own.CustomerId, received.CustomerId);
        }

        Assert.Equal(Customer, EventFrame.Parse(EventFrame.Serialize(events[0]))!.CustomerId);
    }

    [Fact]
    public void Only_the_payloads_own_customerId_is_read_and_the_last_one_counts()
    {
        var other = Guid.NewGuid();
        Assert.Equal(Customer, Parse($$"""{"tenant":"t","type":"booking.created","data":{"customerId":"{{Customer}}"},"id":"{{Guid.NewGuid()}}"}""")!.CustomerId);
        Assert.Equal(other, Parse($$$"""{"tenant":"t","type":"booking.created","data":{"customerId":"{{{Customer}}}","x":[{"customerId":1}],"customerId":"{{{other}}}"}}""")!.CustomerId);
        Assert.Null(Parse($$$"""{"tenant":"t","type":"booking.created","data":{"customerId":"{{{Customer}}}","customerId":42}}""")!.CustomerId);
        Assert.Null(Parse($$$$"""{"tenant":"t","type":"booking.created","data":{"inner":{"customerId":"{{{{Customer}}}}"}}}""")!.CustomerId);
        Assert.Null(Parse("""{"tenant":"t","type":"booking.created","data":null}""")!.CustomerId);
    }

    [Fact]
    public void Members_are_matched_as_the_web_defaults_match_them_and_unknown_ones_are_skipped()
    {
        var id = Guid.NewGuid();
        var at = new DateTimeOffset(2026, 12, 7, 10, 30, 0, TimeSpan.FromHours(1));
        var json = $$"""{"extra":{"a":[1,{"b":null}],"tenant":"wrong"},"OccurredAt":"{{at:O}}","Data":{"customerId":"{{Customer}}"},"ID":"{{id}}","TYPE":"queue.called","Location":"desk","Tenant":"salon","more":[true,false]}""";

        var frame = Parse(json)!;
        var deserialized = JsonSerializer.Deserialize<BookingEvent>(json, JsonSerializerOptions.Web)!;

        Assert.Equal(deserialized.Tenant, frame.Tenant);
        Assert.Equal(deserialized.Type, frame.Type);
        Assert.Equal(deserialized.Location, frame.Location);
        Assert.Equal(deserialized.OccurredAt, frame.OccurredAt);
        Assert.Equal(Customer, frame.CustomerId);
        Assert.StartsWith($"id: {id:D}\nevent: queue.called\ndata: {json}", Encoding.UTF8.GetString(frame.Bytes), StringComparison.Ordinal);
    }

    [Fact]
    public void A_message_written_over_several_lines_is_framed_on_one()
    {
        var published = BookingEvent.Create("salon", "booking.created", null, new { customerId = Customer });
        var indented = JsonSerializer.SerializeToUtf8Bytes(published, Indented);

        var frame = EventFrame.Parse(indented)!;

        Assert.Equal(EventFrame.Create(published, EventFrame.Serialize(published)).Bytes, frame.Bytes);
        Assert.Equal(Customer, frame.CustomerId);
    }

    [Theory]
    [InlineData("null")]
    [InlineData("""{"type":"booking.created"}""")]
    [InlineData("""{"tenant":"","type":"booking.created"}""")]
    [InlineData("""{"tenant":null,"type":"booking.created"}""")]
    [InlineData("""{"tenant":"t"}""")]
    [InlineData("""{"tenant":"t","type":""}""")]
    [InlineData("""{"tenant":"t","type":"booking.created\nevent: forged"}""")]
    public void What_is_not_an_event_is_no_frame(string json) => Assert.Null(Parse(json));

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("""{"tenant":"t","type":"booking.created"} {}""")]
    [InlineData("""null null""")]
    [InlineData("""[{"tenant":"t","type":"booking.created"}]""")]
    [InlineData("""{"tenant":7,"type":"booking.created"}""")]
    [InlineData("""{"tenant":"t","type":["booking.created"]}""")]
    [InlineData("""{"tenant":"t","type":"booking.created","id":"not a guid"}""")]
    [InlineData("""{"tenant":"t","type":"booking.created","occurredAt":12}""")]
    [InlineData("""{"tenant":"t","type":"booking.created","data":{"customerId":}}""")]
    public void Malformed_JSON_is_refused_as_deserializing_refuses_it(string json)
    {
        Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize<BookingEvent>(json, JsonSerializerOptions.Web));
        Assert.ThrowsAny<JsonException>(() => Parse(json));
    }

    private static EventFrame? Parse(string json) => EventFrame.Parse(Encoding.UTF8.GetBytes(json));
}
