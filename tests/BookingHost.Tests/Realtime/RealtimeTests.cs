using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using BookingHost.Auth;
using BookingHost.Realtime;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Scaling.Tenancy;
using Scaling.Testing;

namespace BookingHost.Tests.Realtime;

[Collection(ServersCollection.Name)]
public sealed class RealtimeTests(ServersFixture fixture)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(400);
    private readonly TestServers _servers = fixture.Servers;

    [Fact]
    public async Task An_event_published_on_instance_A_reaches_clients_on_B_and_A_once()
    {
        var cluster = BookingApp.NewCluster();
        await using var a = await BookingApp.StartAsync(_servers, cluster);
        await using var b = await BookingApp.StartAsync(_servers, cluster);
        var tenant = await a.CreateBusinessAsync();
        await WaitSubscribedAsync(a, b);
        using var httpB = b.ClientFor(tenant, b.Token(BookingRoles.Staff, tenant));
        using var httpA = a.ClientFor(tenant, a.Token(BookingRoles.Owner, tenant));
        await using var onB = await SseClient.ConnectAsync(httpB);
        await using var onA = await SseClient.ConnectAsync(httpA);

        var published = BookingEvent.Create(tenant.Value, "booking.created", null, new { bookingId = Guid.NewGuid(), customerId = Guid.NewGuid() });
        await Events(a).PublishAsync(published);

        foreach (var client in new[] { onB, onA })
        {
            var received = await client.NextAsync(Wait);
            Assert.Equal(published.Id.ToString(), received.Id);
            Assert.Equal("booking.created", received.Type);
            Assert.Equal(tenant.Value, received.Json.GetProperty("tenant").GetString());
            Assert.Equal(published.Data.GetProperty("bookingId").GetGuid(), received.Json.GetProperty("data").GetProperty("bookingId").GetGuid());
            Assert.Equal(published.OccurredAt, received.OccurredAt);
            Assert.True(received.ReceivedAt - received.OccurredAt < TimeSpan.FromSeconds(1), $"latency {(received.ReceivedAt - received.OccurredAt).TotalMilliseconds} ms");
            Assert.Null(await client.NextOrNullAsync(Quiet)); // once: A does not deliver its own event again when Redis echoes it
        }
    }

    [Fact]
    public async Task A_client_of_one_business_never_sees_another_businesses_events_and_customers_see_queue_and_their_own_bookings()
    {
        var cluster = BookingApp.NewCluster();
        await using var a = await BookingApp.StartAsync(_servers, cluster);
        await using var b = await BookingApp.StartAsync(_servers, cluster);
        var x = await a.CreateBusinessAsync();
        var y = await a.CreateBusinessAsync();
        await WaitSubscribedAsync(a, b);
        var me = Guid.NewGuid();
        using var staffX = b.ClientFor(x, b.Token(BookingRoles.Staff, x));
        using var staffY = b.ClientFor(y, b.Token(BookingRoles.Staff, y));
        using var customerX = b.ClientFor(x, b.Token(BookingRoles.Customer, userId: me));
        await using var onX = await SseClient.ConnectAsync(staffX);
        await using var onY = await SseClient.ConnectAsync(staffY);
        await using var customerOnX = await SseClient.ConnectAsync(customerX);

        // X's staff token used for Y is refused before any stream opens.
        using var crossing = b.ClientFor(y, b.Token(BookingRoles.Staff, x));
        using (var refused = await crossing.GetAsync(new Uri("/api/v1/events", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        var events = Events(a);
        var yBooking = BookingEvent.Create(y.Value, "booking.created", null, new { customerId = me });
        var othersBooking = BookingEvent.Create(x.Value, "booking.created", null, new { customerId = Guid.NewGuid() });
        var myBooking = BookingEvent.Create(x.Value, "booking.cancelled", null, new { customerId = me });
        var queue = BookingEvent.Create(x.Value, "queue.called", "front-desk", new { number = 7 });
        foreach (var e in new[] { yBooking, othersBooking, myBooking, queue })
        {
            await events.PublishAsync(e);
        }

        Assert.Equal([othersBooking.Id, myBooking.Id, queue.Id], await ReceiveIdsAsync(onX, 3));
        Assert.Equal([yBooking.Id], await ReceiveIdsAsync(onY, 1));
        Assert.Equal([myBooking.Id, queue.Id], await ReceiveIdsAsync(customerOnX, 2));
        foreach (var client in new[] { onX, onY, customerOnX })
        {
            Assert.Null(await client.NextOrNullAsync(Quiet));
        }
    }

    [Fact]
    public async Task The_location_filter_sends_only_that_locations_events()
    {
        var cluster = BookingApp.NewCluster();
        await using var a = await BookingApp.StartAsync(_servers, cluster);
        await using var b = await BookingApp.StartAsync(_servers, cluster);
        var tenant = await a.CreateBusinessAsync();
        await WaitSubscribedAsync(a, b);
        using var http = b.ClientFor(tenant, b.Token(BookingRoles.Staff, tenant));
        await using var front = await SseClient.ConnectAsync(http, "/api/v1/events?location=front");
        await using var all = await SseClient.ConnectAsync(http);
        using (var bad = await http.GetAsync(new Uri("/api/v1/events?location=" + new string('x', 101), UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
        }

        var back = BookingEvent.Create(tenant.Value, "queue.issued", "back", new { number = 1 });
        var booking = BookingEvent.Create(tenant.Value, "booking.created", null, new { number = 2 });
        var atFront = BookingEvent.Create(tenant.Value, "queue.called", "front", new { number = 3 });
        foreach (var e in new[] { back, booking, atFront })
        {
            await Events(a).PublishAsync(e);
        }

        var received = await front.NextAsync(Wait);
        Assert.Equal(atFront.Id.ToString(), received.Id);
        Assert.Equal("front", received.Json.GetProperty("location").GetString());
        Assert.Null(await front.NextOrNullAsync(Quiet));
        Assert.Equal([back.Id, booking.Id, atFront.Id], await ReceiveIdsAsync(all, 3));
    }

    [Fact]
    public async Task A_stalled_client_does_not_delay_another_and_is_disconnected_when_it_falls_behind()
    {
        await using var app = await BookingApp.StartAsync(_servers, configure: b => b.UseSetting("BookingHost:Realtime:ConnectionBufferSize", "16"));
        var tenant = await app.CreateBusinessAsync();
        var hub = app.Services.GetRequiredService<RealtimeHub>();
        using var http = app.ClientFor(tenant, app.Token(BookingRoles.Staff, tenant));
        await using var stalled = await SseClient.ConnectAsync(http, read: false); // never reads after the preamble
        await using var fast = await SseClient.ConnectAsync(http);
        Assert.Equal(2, hub.ConnectionCount);

        var padding = new string('p', 4096);
        var ids = new List<Guid>();
        for (var i = 0; i < 200; i++)
        {
            var e = BookingEvent.Create(tenant.Value, "booking.updated", null, new { i, padding });
            ids.Add(e.Id);
            await Events(app).PublishAsync(e);
            await Task.Delay(2);
        }

        var worst = TimeSpan.Zero;
        foreach (var id in ids)
        {
            var received = await fast.NextAsync(Wait);
            Assert.Equal(id.ToString(), received.Id);
            worst = TimeSpan.FromTicks(Math.Max(worst.Ticks, (received.ReceivedAt - received.OccurredAt).Ticks));
        }

        Assert.True(worst < TimeSpan.FromSeconds(1), $"slowest delivery to the reading client: {worst.TotalMilliseconds:0} ms");

        // 200 × 4 KB cannot fit in the stalled client's transport buffer plus 16 queued frames: it was cut off.
        await Eventually.TrueAsync(() => Task.FromResult(hub.ConnectionCount == 1), Wait, "the stalled stream is dropped");
        Assert.False(fast.Ended.IsCompleted);
    }

    [Fact]
    public async Task With_Redis_killed_publishing_does_not_throw_and_events_flow_again_after_restart()
    {
        var cluster = BookingApp.NewCluster();
        await using var a = await BookingApp.StartAsync(_servers, cluster);
        await using var b = await BookingApp.StartAsync(_servers, cluster);
        var tenant = await a.CreateBusinessAsync();
        await WaitSubscribedAsync(a, b);
        using var httpA = a.ClientFor(tenant, a.Token(BookingRoles.Staff, tenant));
        using var httpB = b.ClientFor(tenant, b.Token(BookingRoles.Staff, tenant));
        await using var onA = await SseClient.ConnectAsync(httpA);
        await using var onB = await SseClient.ConnectAsync(httpB);

        var redis = _servers.Redis[0];
        await redis.KillAsync();
        try
        {
            var during = BookingEvent.Create(tenant.Value, "booking.created", null, new { n = 1 });
            var stopwatch = Stopwatch.StartNew();
            await Events(a).PublishAsync(during); // must not throw
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2), $"publish took {stopwatch.ElapsedMilliseconds} ms with Redis down");

            // This instance's own clients still get it.
            Assert.Equal(during.Id.ToString(), (await onA.NextAsync(Wait)).Id);
        }
        finally
        {
            await redis.RestartAsync();
        }

        // The multiplexers reconnect and B resubscribes: an event from A reaches B again.
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var after = BookingEvent.Create(tenant.Value, "booking.created", null, new { n = 2 });
            await Events(a).PublishAsync(after);
            var received = await onB.NextOrNullAsync(TimeSpan.FromMilliseconds(500));
            if (received?.Id == after.Id.ToString())
            {
                break;
            }

            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), "no event reached instance B within 30 s of Redis coming back");
        }
    }

    [Fact]
    public async Task With_Redis_paused_a_publish_returns_at_once_and_counts_as_failed_then_as_published_after_the_resume()
    {
        var cluster = BookingApp.NewCluster();
        await using var a = await BookingApp.StartAsync(_servers, cluster);
        var tenant = await a.CreateBusinessAsync();
        await WaitSubscribedAsync(a);
        var published = 0L;
        var timeouts = 0L;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == RealtimeInstruments.MeterName && instrument.Name is "bookinghost.realtime.events.published" or "bookinghost.realtime.publish.failures")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "bookinghost.realtime.events.published")
            {
                Interlocked.Add(ref published, value);
            }
            else if (tags.ToArray().Any(t => t is { Key: "reason", Value: "timeout" }))
            {
                Interlocked.Add(ref timeouts, value);
            }
        });
        listener.Start();

        // Connected: each publish is counted once Redis answers, with nothing awaiting the answer.
        await Events(a).PublishAsync(BookingEvent.Create(tenant.Value, "booking.created", null, new { n = 0 }));
        await Eventually.TrueAsync(() => Task.FromResult(Interlocked.Read(ref published) >= 1), Wait, "the publish counted as published");

        var redis = _servers.Redis[0];
        await redis.PauseAsync();
        try
        {
            var stopwatch = Stopwatch.StartNew();
            for (var i = 1; i <= 3; i++)
            {
                await Events(a).PublishAsync(BookingEvent.Create(tenant.Value, "booking.created", null, new { n = i }));
            }

            Assert.True(stopwatch.Elapsed < TimeSpan.FromMilliseconds(500), $"three publishes took {stopwatch.ElapsedMilliseconds} ms with Redis paused");

            // The default PublishTimeout is 1 s; the count comes at most half of it later.
            await Eventually.TrueAsync(() => Task.FromResult(Interlocked.Read(ref timeouts) >= 3), TimeSpan.FromSeconds(4), "three publishes counted as timed out");
            Assert.True(stopwatch.Elapsed >= TimeSpan.FromSeconds(1), $"counted as timed out after {stopwatch.ElapsedMilliseconds} ms, before the 1-s timeout");
        }
        finally
        {
            await redis.ResumeAsync();
        }

        // Answered again: publishes count as published, not as failed.
        var before = Interlocked.Read(ref published);
        var timedOut = Interlocked.Read(ref timeouts);
        await Eventually.TrueAsync(
            async () =>
            {
                await Events(a).PublishAsync(BookingEvent.Create(tenant.Value, "booking.created", null, new { n = 4 }));
                await Task.Delay(100);
                return Interlocked.Read(ref published) > before;
            },
            TimeSpan.FromSeconds(15),
            "a publish counted as published after the resume");
        Assert.Equal(timedOut, Interlocked.Read(ref timeouts));
    }

    [Fact]
    public async Task Streams_end_when_the_host_stops_without_holding_up_shutdown()
    {
        var app = await BookingApp.StartAsync(_servers);
        var tenant = await app.CreateBusinessAsync();
        using var http = app.ClientFor(tenant, app.Token(BookingRoles.Staff, tenant));
        await using var client = await SseClient.ConnectAsync(http);
        var stopping = app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;

        var stopwatch = Stopwatch.StartNew();
        await app.DisposeAsync();

        Assert.True(stopping.IsCancellationRequested);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"shutdown took {stopwatch.Elapsed.TotalSeconds:0.0} s with a stream open");
        await Task.WhenAny(client.Ended, Task.Delay(Wait));
        Assert.True(client.Ended.IsCompleted, "the stream did not end");
        Assert.Null(await client.NextOrNullAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task The_stream_needs_a_signed_in_user_and_a_business_and_sends_heartbeats()
    {
        await using var app = await BookingApp.StartAsync(_servers, configure: b => b.UseSetting("BookingHost:Realtime:HeartbeatInterval", "00:00:00.100"));
        var tenant = await app.CreateBusinessAsync();
        using (var anonymous = app.ClientFor(tenant))
        using (var response = await anonymous.GetAsync(new Uri("/api/v1/events", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using (var noBusiness = app.ClientFor(null, app.Token(BookingRoles.Customer)))
        using (var response = await noBusiness.GetAsync(new Uri("/api/v1/events", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        using var http = app.ClientFor(tenant, app.Token(BookingRoles.Customer));
        await using var client = await SseClient.ConnectAsync(http);
        await Eventually.TrueAsync(() => Task.FromResult(client.HeartbeatCount >= 3), Wait, "three heartbeats");
    }

    private static IBookingEvents Events(BookingApp app) => app.Services.GetRequiredService<IBookingEvents>();

    private static Task WaitSubscribedAsync(params BookingApp[] apps)
        => Eventually.TrueAsync(() => Task.FromResult(apps.All(a => a.Services.GetRequiredService<RealtimeHub>().IsSubscribed)), TimeSpan.FromSeconds(10), "every instance subscribed");

    private static async Task<Guid[]> ReceiveIdsAsync(SseClient client, int count)
    {
        var ids = new Guid[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = Guid.Parse((await client.NextAsync(Wait)).Id!);
        }

        return ids;
    }
}
