using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BookingHost.Realtime;
using BookingHost.Tests.Auth;
using BookingHost.Tests.Domain;
using BookingHost.Tests.Realtime;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Scaling.Testing;

namespace BookingHost.Tests;

/// <summary>
/// Two instances whose shared Redis (<c>ConnectionStrings:Redis</c>: cache, rate limits, idempotency store, revocation
/// list, events, shard-map push) is a real Redis Cluster; the Redlock masters stay the three independent servers.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class RedisClusterTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task Two_instances_on_a_redis_cluster_share_idempotency_revocation_and_events()
    {
        var cluster = await Servers.StartRedisClusterAsync();
        void OnCluster(IWebHostBuilder web)
        {
            web.UseSetting("ConnectionStrings:Redis", cluster.Configuration);
        }

        await using var a = await BookingApp.StartAsync(Servers, configure: OnCluster);
        await using var b = await BookingApp.StartAsync(Servers, a.Cluster, OnCluster);
        await Eventually.TrueAsync(
            () => Task.FromResult(new[] { a, b }.All(x => x.Services.GetRequiredService<RealtimeHub>().IsSubscribed)),
            TimeSpan.FromSeconds(10),
            "both instances subscribed");

        // Idempotency: a booking retried with its key on the other instance replays the first response.
        var kit = await BusinessKit.CreateAsync(a, "shard-1");
        await using var watcher = await SseClient.ConnectAsync(kit.Client(kit.StaffToken, b));
        var customer = kit.Customer();
        var key = Guid.NewGuid().ToString();
        var body = new { serviceId = kit.ServiceId, resourceId = kit.ResourceId, startsAt = BusinessKit.Tomorrow(13) };
        Task<HttpResponseMessage> BookAsync(BookingApp app)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/bookings") { Content = JsonContent.Create(body) };
            request.Headers.Add("Idempotency-Key", key);
            return kit.Client(customer, app).SendAsync(request);
        }

        using var first = await BookAsync(a);
        using var retry = await BookAsync(b);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal("true", retry.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(await first.Content.ReadAsStringAsync(), await retry.Content.ReadAsStringAsync());
        Assert.Equal(1L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM bookings WHERE tenant_id = '{kit.Tenant}'"));

        // Events: the booking made on A reaches a live client of B, once.
        var id = (await first.Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json)).GetProperty("id").GetGuid();
        var seen = await watcher.NextAsync(TimeSpan.FromSeconds(5));
        Assert.Equal("booking.created", seen.Type);
        Assert.Equal(id, seen.Json.GetProperty("data").GetProperty("id").GetGuid());

        // Revocation: a token revoked on A is refused by B.
        await AuthApi.AssertRevocationReachesAsync(a, b);
    }

    [Fact]
    public async Task Two_instances_on_a_redis_cluster_share_one_rate_limit()
    {
        var cluster = await Servers.StartRedisClusterAsync();
        void OnCluster(IWebHostBuilder web)
        {
            web.UseSetting("ConnectionStrings:Redis", cluster.Configuration);
            web.UseSetting("BookingHost:AnonymousPerMinute", "10");
        }

        await using var a = await BookingApp.StartAsync(Servers, configure: OnCluster);
        await using var b = await BookingApp.StartAsync(Servers, a.Cluster, OnCluster);

        // Rate limits: one anonymous limit of 10 a minute, shared by both instances.
        var tenant = await a.CreateBusinessAsync("shard-2");
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 16; i++)
        {
            using var response = await (i % 2 == 0 ? a : b).ClientFor(tenant).GetAsync("/api/v1/services");
            statuses.Add(response.StatusCode);
        }

        Assert.Equal(10, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(6, statuses.Count(s => s == HttpStatusCode.TooManyRequests));

    }
}
