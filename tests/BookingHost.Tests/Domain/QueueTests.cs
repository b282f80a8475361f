using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BookingHost.Domain;
using BookingHost.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Scaling.Locks;
using Scaling.Testing;

namespace BookingHost.Tests.Domain;

[Collection(ServersCollection.Name)]
public sealed class QueueTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task Concurrent_walk_ins_get_unique_gapless_numbers_and_concurrent_call_next_calls_every_token_exactly_once()
    {
        await using var a = await BookingApp.StartAsync(Servers);
        await using var b = await BookingApp.StartAsync(Servers, a.Cluster);
        var kit = await BusinessKit.CreateAsync(a, "shard-1");
        var issued = await Task.WhenAll(Enumerable.Range(0, 30).Select(async i =>
        {
            using var client = kit.Client(kit.Customer(), i % 2 == 0 ? a : b);
            using var response = await client.PostAsJsonAsync("/api/v1/queues/front-desk/tokens", new { customerName = $"Walk-in {i}" });
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            return (await response.Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json)).GetProperty("number").GetInt32();
        }));
        Assert.Equal(Enumerable.Range(1, 30), issued.Order());

        // 40 concurrent call-next from staff on both instances: 30 tokens called once each, 10 find no one waiting.
        var calls = await Task.WhenAll(Enumerable.Range(0, 40).Select(async i =>
        {
            using var staff = kit.Client(kit.StaffToken, i % 2 == 0 ? a : b);
            while (true)
            {
                using var response = await staff.PostAsync("/api/v1/queues/front-desk/call-next", null);
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    continue; // the lock was busy for longer than the wait: retry, as a client would
                }

                return response.StatusCode == HttpStatusCode.OK
                    ? (await response.Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json)).GetProperty("number").GetInt32()
                    : (int)response.StatusCode * -1;
            }
        }));
        Assert.Equal(Enumerable.Range(1, 30), calls.Where(n => n > 0).Order());
        Assert.Equal(10, calls.Count(n => n == -404));
        Assert.Equal(30L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM queue_tokens WHERE tenant_id = '{kit.Tenant}' AND status = 'called' AND called_at IS NOT NULL"));

        // start → complete; a second complete of the same token is refused.
        using var desk = kit.Client(kit.StaffToken);
        Assert.Equal(HttpStatusCode.OK, (await desk.PostAsync("/api/v1/queues/front-desk/tokens/1/start", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await desk.PostAsync("/api/v1/queues/front-desk/tokens/1/complete", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await desk.PostAsync("/api/v1/queues/front-desk/tokens/1/complete", null)).StatusCode);
        using var skipped = await desk.PostAsync("/api/v1/queues/front-desk/tokens/2/skip", null);
        Assert.Equal(HttpStatusCode.OK, skipped.StatusCode);

        // Read-your-writes from a replica: the token of the last write travels with the read.
        using var reader = kit.Client(null);
        reader.DefaultRequestHeaders.Add("X-Consistency-Token", skipped.Headers.GetValues("X-Consistency-Token").Single());
        var snapshot = await reader.GetFromJsonAsync<JsonElement>("/api/v1/queues/front-desk");
        Assert.Equal(1, snapshot.GetProperty("served").GetInt32());
        Assert.Equal(28, snapshot.GetProperty("inService").GetArrayLength());
    }

    [Fact]
    public async Task A_transition_with_a_stale_fencing_token_changes_nothing()
    {
        // A holder whose lock passed to a newer one: its one-batch write is refused by the database, whole.
        await using var app = await BookingApp.StartAsync(Servers);
        var tenant = await app.CreateBusinessAsync("shard-1");
        var queue = app.Services.GetRequiredService<QueueStore>();
        var fences = app.Services.GetRequiredService<ShardFencingTokenSource>();
        var day = DateOnly.FromDateTime(DateTime.UtcNow);
        await queue.IssueAsync(tenant, "desk", day, "First", CancellationToken.None);
        await queue.IssueAsync(tenant, "desk", day, "Second", CancellationToken.None);
        var resource = ShardFencingTokenSource.Resource("queue", tenant, $"desk:{day:yyyy-MM-dd}");
        var old = await fences.NextAsync(resource);
        var current = await fences.NextAsync(resource);

        var stale = await Assert.ThrowsAsync<StaleFencingTokenException>(() => queue.TransitionAsync(tenant, "desk", day, null, "called", resource, old, CancellationToken.None));
        Assert.Equal(current, stale.LatestToken);
        await Assert.ThrowsAsync<StaleFencingTokenException>(() => queue.TransitionAsync(tenant, "desk", day, 2, "skipped", resource, old, CancellationToken.None));
        Assert.Equal(
            "waiting,waiting",
            await Servers.Shard1Primary.ScalarAsync<string>($"SELECT string_agg(status, ',' ORDER BY number) FROM queue_tokens WHERE tenant_id = '{tenant}'"));

        var called = await queue.TransitionAsync(tenant, "desk", day, null, "called", resource, current, CancellationToken.None);
        Assert.Equal(1, called.Value?.Number);
        Assert.NotNull(called.Token);
        var skipped = await queue.TransitionAsync(tenant, "desk", day, 2, "skipped", resource, current, CancellationToken.None);
        Assert.Equal("skipped", skipped.Value?.Status);
        Assert.Null((await queue.TransitionAsync(tenant, "desk", day, 2, "serving", resource, current, CancellationToken.None)).Value); // skipped cannot be served
        Assert.Null((await queue.TransitionAsync(tenant, "desk", day, null, "called", resource, current, CancellationToken.None)).Value); // no one waits
    }

    [Fact]
    public async Task The_snapshot_gives_positions_and_estimated_waits_and_only_staff_move_the_queue()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var kit = await BusinessKit.CreateAsync(app, "shard-2");
        using var customer = kit.Client(kit.Customer());
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Created, (await customer.PostAsJsonAsync("/api/v1/queues/chairs/tokens", new { customerName = $"C{i}" })).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await customer.PostAsync("/api/v1/queues/chairs/call-next", null)).StatusCode);
        using var anonymous = kit.Client(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("/api/v1/queues/chairs/call-next", null)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await customer.PostAsJsonAsync("/api/v1/queues/Bad_Location/tokens", new { customerName = "x" })).StatusCode);

        using var staff = kit.Client(kit.StaffToken);
        using var called = await staff.PostAsync("/api/v1/queues/chairs/call-next", null);
        Assert.Equal(HttpStatusCode.OK, called.StatusCode);
        anonymous.DefaultRequestHeaders.Add("X-Consistency-Token", called.Headers.GetValues("X-Consistency-Token").Single());
        var snapshot = await anonymous.GetFromJsonAsync<JsonElement>("/api/v1/queues/chairs");
        var waiting = snapshot.GetProperty("waiting").EnumerateArray().ToArray();
        Assert.Equal([2, 3], waiting.Select(w => w.GetProperty("number").GetInt32()));
        Assert.Equal([1, 2], waiting.Select(w => w.GetProperty("position").GetInt32()));
        Assert.Equal([15, 30], waiting.Select(w => w.GetProperty("estimatedWaitMinutes").GetInt32()));
        Assert.All(waiting, w => Assert.Equal(JsonValueKind.Null, w.GetProperty("customerName").ValueKind)); // public view: no names
        staff.DefaultRequestHeaders.Add("X-Consistency-Token", called.Headers.GetValues("X-Consistency-Token").Single());
        var forStaff = await staff.GetFromJsonAsync<JsonElement>("/api/v1/queues/chairs");
        Assert.Equal(["C1", "C2"], forStaff.GetProperty("waiting").EnumerateArray().Select(w => w.GetProperty("customerName").GetString()));
    }

    [Fact]
    public async Task With_redis_down_queue_transitions_fail_closed_with_503_and_bookings_still_work()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var kit = await BusinessKit.CreateAsync(app, "shard-1");
        using var customer = kit.Client(kit.Customer());
        Assert.Equal(HttpStatusCode.Created, (await customer.PostAsJsonAsync("/api/v1/queues/door/tokens", new { customerName = "Sam" })).StatusCode);
        using var staff = kit.Client(kit.StaffToken);

        foreach (var redis in Servers.Redis)
        {
            await redis.KillAsync();
        }

        try
        {
            using var call = await staff.PostAsync("/api/v1/queues/door/call-next", null);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, call.StatusCode);
            Assert.Equal("application/problem+json", call.Content.Headers.ContentType?.MediaType);
            Assert.NotNull(call.Headers.RetryAfter);
            Assert.Equal("waiting", await Servers.Shard1Primary.ScalarAsync<string>($"SELECT status FROM queue_tokens WHERE tenant_id = '{kit.Tenant}'"));

            using var booked = await kit.BookAsync(customer, BusinessKit.Tomorrow(16));
            Assert.Equal(HttpStatusCode.Created, booked.StatusCode);
        }
        finally
        {
            foreach (var redis in Servers.Redis)
            {
                await redis.RestartAsync();
            }
        }

        await Eventually.TrueAsync(
            async () => (await staff.PostAsync("/api/v1/queues/door/call-next", null)).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(20),
            "call-next works again once Redis is back");
    }
}
