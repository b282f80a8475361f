using System.Net;
using System.Net.Http.Json;
using BookingHost.Tests.Domain;
using Microsoft.AspNetCore.Hosting;
using Scaling.Testing;
using StackExchange.Redis;

namespace BookingHost.Tests;

/// <summary>
/// One multiplexer per Redis endpoint: the cache, rate limits, shard-map push, idempotency store, revocation list,
/// events, locks and health checks of an instance all share it (counted with <c>CLIENT LIST</c>).
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class RedisConnectionTests(ServersFixture fixture)
{
    [Fact]
    public async Task An_instance_holds_one_multiplexer_per_redis_endpoint_whatever_it_does()
    {
        var name = "bh-" + Guid.NewGuid().ToString("N")[..8];
        await using var app = await BookingApp.StartAsync(fixture.Servers, configure: b => b.UseSetting("BookingHost:RedisClientName", name));
        var kit = await BusinessKit.CreateAsync(app, "shard-1");

        // Every part that talks to Redis: cache and rate limits (catalog reads), idempotency and revocation (a booking
        // with a key, a signed-in user), events (an open stream), locks (a queue transition), health (readiness).
        using var customer = kit.Client(kit.Customer());
        using var staff = kit.Client(kit.StaffToken);
        using (var services = await customer.GetAsync("/api/v1/services"))
        {
            Assert.Equal(HttpStatusCode.OK, services.StatusCode);
        }

        using var booking = new HttpRequestMessage(HttpMethod.Post, "/api/v1/bookings")
        {
            Content = JsonContent.Create(new { serviceId = kit.ServiceId, resourceId = kit.ResourceId, startsAt = BusinessKit.Tomorrow(10) }),
        };
        booking.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        using (var booked = await customer.SendAsync(booking))
        {
            Assert.Equal(HttpStatusCode.Created, booked.StatusCode);
        }

        using var stream = await staff.GetAsync("/api/v1/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        using (var token = await customer.PostAsJsonAsync("/api/v1/queues/front-desk/tokens", new { customerName = "Walk-in" }))
        {
            Assert.Equal(HttpStatusCode.Created, token.StatusCode);
        }

        using (var called = await staff.PostAsync("/api/v1/queues/front-desk/call-next", null))
        {
            Assert.Equal(HttpStatusCode.OK, called.StatusCode);
        }

        using (var ready = await app.CreateClient().GetAsync("/health/ready"))
        {
            Assert.True(ready.StatusCode == HttpStatusCode.OK, $"/health/ready answered {(int)ready.StatusCode}: {await ready.Content.ReadAsStringAsync()}");
        }

        foreach (var redis in fixture.Servers.Redis)
        {
            await using var admin = await ConnectionMultiplexer.ConnectAsync(redis.EndPoint + ",allowAdmin=true");
            var clients = await admin.GetServer(admin.GetEndPoints()[0]).ClientListAsync();
            var instance = clients.Where(c => c.Name == name).ToList();

            // One multiplexer: one interactive connection and one for pub/sub.
            Assert.Equal(2, instance.Count);
            Assert.Single(instance, c => c.SubscriptionCount > 0 || c.ClientType == ClientType.PubSub);
            Assert.DoesNotContain(clients, c => c.Name is { } n && n.StartsWith("scaling-", StringComparison.Ordinal));
        }
    }
}
