using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BookingHost.Auth;
using Scaling.Testing;

namespace BookingHost.Tests.Domain;

[Collection(ServersCollection.Name)]
public sealed class PlatformTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task A_platform_admin_creates_a_business_moves_it_to_the_other_shard_under_load_and_reads_cross_shard_analytics()
    {
        await using var a = await BookingApp.StartAsync(Servers);
        await using var b = await BookingApp.StartAsync(Servers, a.Cluster);
        using var admin = a.ClientFor(null, a.Token(BookingRoles.PlatformAdmin));
        var id = "salon-" + Guid.NewGuid().ToString("N")[..8];
        using (var created = await admin.PostAsJsonAsync("/api/v1/platform/tenants", new { id, name = "Salon", plan = "premium", shard = "shard-1", timeZone = "Australia/Sydney" }))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.Equal("shard-1", (await created.Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json)).GetProperty("shard").GetString());
        }

        Assert.Equal(HttpStatusCode.Conflict, (await admin.PostAsJsonAsync("/api/v1/platform/tenants", new { id, name = "Again", plan = "basic" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PostAsJsonAsync("/api/v1/platform/tenants", new { id = "Not Valid", name = "x", plan = "gold" })).StatusCode);

        var tenant = Scaling.Tenancy.TenantId.Parse(id);
        var owner = a.Token(BookingRoles.Owner, tenant);
        using var ownerClient = a.ClientFor(tenant, owner);
        var service = (await (await ownerClient.PostAsJsonAsync("/api/v1/services", new { name = "Colour", durationMinutes = 20, priceCents = 9000 })).Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json)).GetProperty("id").GetGuid();
        var hours = Enumerable.Range(0, 7).Select(d => new { weekday = d, opens = "00:00:00", closes = "23:59:00" });
        var resource = (await (await ownerClient.PostAsJsonAsync("/api/v1/resources", new { name = "Chair 1", kind = "room", hours })).Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json)).GetProperty("id").GetGuid();
        var kit = new BusinessKit(a, tenant, owner, a.Token(BookingRoles.Staff, tenant), service, resource);

        // Bookings keep coming from both instances while the business moves; each gets 201 or a retryable 503.
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<Guid>();
        var retryable = 0;
        using var stop = new CancellationTokenSource();
        async Task BookUntilStoppedAsync(BookingApp app, int lane)
        {
            using var client = kit.Client(kit.Customer(), app);
            for (var slot = 0; !stop.IsCancellationRequested; slot++)
            {
                var start = DateTimeOffset.UtcNow.Date.AddDays(2).AddMinutes(((slot * 2) + lane) * 30); // the lanes interleave, never overlap
                using var response = await kit.BookAsync(client, new DateTimeOffset(start, TimeSpan.Zero));
                if (response.StatusCode == HttpStatusCode.Created)
                {
                    acknowledged.Add((await response.Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json)).GetProperty("id").GetGuid());
                }
                else
                {
                    Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                    Assert.NotNull(response.Headers.RetryAfter);
                    Interlocked.Increment(ref retryable);
                    slot--;
                    await Task.Delay(20);
                }
            }
        }

        var writers = new[] { Task.Run(() => BookUntilStoppedAsync(a, 0)), Task.Run(() => BookUntilStoppedAsync(b, 1)) };
        await Task.Delay(300);
        using var moved = await admin.PostAsJsonAsync($"/api/v1/platform/tenants/{id}/move", new { targetShard = "shard-2" });
        await Task.Delay(300);
        await stop.CancelAsync();
        await Task.WhenAll(writers);
        Assert.Equal(HttpStatusCode.OK, moved.StatusCode);
        var move = await moved.Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json);
        Assert.Equal("shard-2", move.GetProperty("to").GetString());
        Assert.True(move.GetProperty("writePauseMilliseconds").GetDouble() < 5000);

        var onTarget = await Servers.Shard2Primary.ScalarAsync<long>($"SELECT count(*) FROM bookings WHERE tenant_id = '{id}'");
        Assert.Equal(acknowledged.Count, onTarget);
        Assert.Equal(0L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM bookings WHERE tenant_id = '{id}'"));
        Assert.Equal(acknowledged.Count, await Servers.Shard2Primary.ScalarAsync<long>($"SELECT count(DISTINCT id) FROM bookings WHERE tenant_id = '{id}' AND id = ANY('{{{string.Join(',', acknowledged)}}}'::uuid[])"));
        Assert.Equal(HttpStatusCode.Conflict, (await admin.PostAsJsonAsync($"/api/v1/platform/tenants/{id}/move", new { targetShard = "shard-2" })).StatusCode);

        // Cross-shard analytics: bookings per day per business from both shards.
        var other = await BusinessKit.CreateAsync(a, "shard-1");
        using (var booked = await other.BookAsync(other.Client(other.Customer()), BusinessKit.Tomorrow(12)))
        {
            Assert.Equal(HttpStatusCode.Created, booked.StatusCode);
        }

        // Analytics read the replicas: wait until shard 1's replica has the other business's new booking.
        JsonElement analytics = default;
        JsonElement[] rows = [];
        await Eventually.TrueAsync(
            async () =>
            {
                analytics = await admin.GetFromJsonAsync<JsonElement>("/api/v1/platform/analytics/bookings-per-day");
                rows = analytics.GetProperty("rows").EnumerateArray().ToArray();
                return rows.Any(r => r.GetProperty("tenant").GetString() == other.Tenant.Value);
            },
            TimeSpan.FromSeconds(10),
            "the analytics include the other business");
        Assert.Equal(acknowledged.Count, rows.Where(r => r.GetProperty("tenant").GetString() == id).Sum(r => r.GetProperty("bookings").GetInt64()));
        Assert.All(rows.Where(r => r.GetProperty("tenant").GetString() == id), r => Assert.Equal("shard-2", r.GetProperty("shard").GetString()));
        Assert.Contains(rows, r => r.GetProperty("tenant").GetString() == other.Tenant.Value && r.GetProperty("shard").GetString() == "shard-1");
        Assert.Empty(analytics.GetProperty("failedShards").EnumerateArray());
    }

    [Fact]
    public async Task Reads_keep_working_with_no_failed_request_while_the_replica_is_killed_and_restarted()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var kit = await BusinessKit.CreateAsync(app, "shard-1");
        using var client = kit.Client(kit.Customer());
        using (var booked = await kit.BookAsync(client, BusinessKit.Tomorrow(7)))
        {
            Assert.Equal(HttpStatusCode.Created, booked.StatusCode);
        }

        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var requests = 0;
        using var stop = new CancellationTokenSource();
        var day = BusinessKit.Tomorrow(0).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var readers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var list = await client.GetAsync("/api/v1/bookings");
                using var snapshot = await client.GetAsync("/api/v1/queues/lobby");
                Interlocked.Add(ref requests, 2);
                if (!list.IsSuccessStatusCode || !snapshot.IsSuccessStatusCode)
                {
                    failures.Add($"{list.StatusCode} {snapshot.StatusCode}");
                }
            }
        })).ToArray();

        await Task.Delay(300);
        await Servers.Shard1Replica.KillAsync();
        try
        {
            await Task.Delay(1500);
        }
        finally
        {
            await Servers.Shard1Replica.RestartAsync();
        }

        await Task.Delay(500);
        await stop.CancelAsync();
        await Task.WhenAll(readers);
        Assert.True(requests > 50, $"only {requests} requests ran");
        Assert.Empty(failures);
    }
}
