using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BookingHost.Auth;
using BookingHost.Domain;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Scaling.Tenancy.Sharding;
using Scaling.Testing;

namespace BookingHost.Tests.Domain;

[Collection(ServersCollection.Name)]
public sealed class BookingFlowTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task With_an_idempotency_key_the_slot_has_left_availability_when_the_answer_arrives_and_a_retry_replays_it()
    {
        // The invalidation and the stored answer go to Redis together; the answer still waits for both. Each
        // invalidation is held back 300 ms here, so an answer that left before it would be seen at once.
        await using var app = await BookingApp.StartAsync(Servers, configure: b => b.ConfigureTestServices(s => s.AddSingleton(sp => new AvailabilityQuery(
            sp.GetRequiredService<ShardRouter>(),
            new SlowTagInvalidation(sp.GetRequiredService<HybridCache>(), TimeSpan.FromMilliseconds(300)),
            sp.GetRequiredService<IOptions<JsonOptions>>()))));
        var kit = await BusinessKit.CreateAsync(app, "shard-1");
        using var client = kit.Client(kit.Customer(Guid.NewGuid()));
        using var visitor = kit.Client(null); // no consistency-token cookie: served from the cache
        var day = BusinessKit.Tomorrow(0).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        async Task<DateTimeOffset[]> FreeAsync() =>
            (await visitor.GetFromJsonAsync<JsonElement>($"/api/v1/availability?serviceId={kit.ServiceId}&resourceId={kit.ResourceId}&date={day}"))
                .GetProperty("slots").EnumerateArray().Select(s => s.GetDateTimeOffset()).ToArray();
        var key = Guid.NewGuid().ToString();
        HttpRequestMessage Book() => new(HttpMethod.Post, "/api/v1/bookings")
        {
            Content = JsonContent.Create(new { serviceId = kit.ServiceId, resourceId = kit.ResourceId, startsAt = BusinessKit.Tomorrow(11) }),
            Headers = { { "Idempotency-Key", key } },
        };

        for (var round = 0; round < 3; round++)
        {
            key = Guid.NewGuid().ToString();
            Assert.Contains(BusinessKit.Tomorrow(11), await FreeAsync()); // cached on this instance
            using var created = await client.SendAsync(Book());
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.DoesNotContain(BusinessKit.Tomorrow(11), await FreeAsync());

            using var replay = await client.SendAsync(Book());
            Assert.Equal(HttpStatusCode.Created, replay.StatusCode);
            Assert.Equal("true", Assert.Single(replay.Headers.GetValues("Idempotent-Replayed")));
            Assert.Equal(await created.Content.ReadAsStringAsync(), await replay.Content.ReadAsStringAsync());

            var id = (await created.Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json)).GetProperty("id").GetGuid();
            using var cancelled = await client.PostAsync($"/api/v1/bookings/{id}/cancel", null);
            Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        }
    }

    [Fact]
    public async Task A_customer_books_a_free_slot_sees_it_at_once_and_the_slot_leaves_availability()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var kit = await BusinessKit.CreateAsync(app, "shard-1");
        var customer = Guid.NewGuid();
        using var client = kit.Client(kit.Customer(customer));
        var day = BusinessKit.Tomorrow(0).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var before = await client.GetFromJsonAsync<JsonElement>($"/api/v1/availability?serviceId={kit.ServiceId}&resourceId={kit.ResourceId}&date={day}");
        var slots = before.GetProperty("slots").EnumerateArray().Select(s => s.GetDateTimeOffset()).ToArray();
        Assert.Contains(BusinessKit.Tomorrow(10), slots);

        using var created = await kit.BookAsync(client, BusinessKit.Tomorrow(10), "first visit");
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var booking = await created.Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json);
        var id = booking.GetProperty("id").GetGuid();
        Assert.Equal(customer, booking.GetProperty("customerId").GetGuid());
        Assert.Equal(BusinessKit.Tomorrow(10, 30), booking.GetProperty("endsAt").GetDateTimeOffset());
        var token = created.Headers.GetValues("X-Consistency-Token").Single();
        Assert.EndsWith("@shard-1", token, StringComparison.Ordinal);
        Assert.Equal($"/api/v1/bookings/{id}", created.Headers.Location?.ToString());

        // Read-your-writes: the next read carries the token (the client sends back the header).
        client.DefaultRequestHeaders.Add("X-Consistency-Token", token);
        var list = await client.GetFromJsonAsync<JsonElement>("/api/v1/bookings");
        Assert.Equal(id, Assert.Single(list.GetProperty("items").EnumerateArray()).GetProperty("id").GetGuid());
        var after = await client.GetFromJsonAsync<JsonElement>($"/api/v1/availability?serviceId={kit.ServiceId}&resourceId={kit.ResourceId}&date={day}");
        var free = after.GetProperty("slots").EnumerateArray().Select(s => s.GetDateTimeOffset()).ToArray();
        Assert.DoesNotContain(BusinessKit.Tomorrow(10), free);
        Assert.DoesNotContain(BusinessKit.Tomorrow(9, 45), free); // 9:45–10:15 would overlap
        Assert.Contains(BusinessKit.Tomorrow(10, 30), free);

        // A second instance's shared cache was invalidated too (no token sent there).
        await using var other = await BookingApp.StartAsync(Servers, app.Cluster);
        using var anonymous = kit.Client(null, other);
        var elsewhere = await anonymous.GetFromJsonAsync<JsonElement>($"/api/v1/availability?serviceId={kit.ServiceId}&resourceId={kit.ResourceId}&date={day}");
        Assert.DoesNotContain(BusinessKit.Tomorrow(10), elsewhere.GetProperty("slots").EnumerateArray().Select(s => s.GetDateTimeOffset()));

        // Keyset pagination: one booking per page, the cursor leads to the next and then to none.
        using (var later = await kit.BookAsync(client, BusinessKit.Tomorrow(15)))
        {
            Assert.Equal(HttpStatusCode.Created, later.StatusCode);
            client.DefaultRequestHeaders.Remove("X-Consistency-Token");
            client.DefaultRequestHeaders.Add("X-Consistency-Token", later.Headers.GetValues("X-Consistency-Token").Single());
        }

        var page1 = await client.GetFromJsonAsync<JsonElement>("/api/v1/bookings?limit=1");
        var page2 = await client.GetFromJsonAsync<JsonElement>($"/api/v1/bookings?limit=1&cursor={page1.GetProperty("nextCursor").GetString()}");
        Assert.Equal(id, Assert.Single(page1.GetProperty("items").EnumerateArray()).GetProperty("id").GetGuid());
        Assert.Equal(BusinessKit.Tomorrow(15), Assert.Single(page2.GetProperty("items").EnumerateArray()).GetProperty("startsAt").GetDateTimeOffset());
        Assert.Equal(JsonValueKind.Null, page2.GetProperty("nextCursor").ValueKind);

        // Cancel frees the slot; staff complete another booking.
        using var cancelled = await client.PostAsync($"/api/v1/bookings/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        using var again = await kit.BookAsync(client, BusinessKit.Tomorrow(10));
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        var secondId = (await again.Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json)).GetProperty("id").GetGuid();
        using var byCustomer = await client.PostAsync($"/api/v1/bookings/{secondId}/complete", null);
        Assert.Equal(HttpStatusCode.Forbidden, byCustomer.StatusCode);
        using var staff = kit.Client(kit.StaffToken);
        using var completed = await staff.PostAsync($"/api/v1/bookings/{secondId}/complete", null);
        Assert.Equal(HttpStatusCode.OK, completed.StatusCode);
        Assert.Equal("completed", (await completed.Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Two_hundred_concurrent_requests_for_one_slot_give_exactly_one_booking()
    {
        await using var a = await BookingApp.StartAsync(Servers);
        await using var b = await BookingApp.StartAsync(Servers, a.Cluster);
        var kit = await BusinessKit.CreateAsync(a, "shard-2");
        var start = BusinessKit.Tomorrow(14);
        var responses = await Task.WhenAll(Enumerable.Range(0, 200).Select(async i =>
        {
            using var client = kit.Client(kit.Customer(), i % 2 == 0 ? a : b);

            // A 503 says "retry after 1 s" (on a loaded 2-core machine the pool can run dry while 200 requests queue on one
            // resource): the client retries, as the answer tells it to; every request must end as the booking or a 409.
            var response = await kit.BookAsync(client, start.AddMinutes(i % 3 * 10)); // 14:00, 14:10, 14:20: all overlap
            for (var retry = 0; retry < 5 && response.StatusCode == HttpStatusCode.ServiceUnavailable && response.Headers.RetryAfter is not null; retry++)
            {
                response.Dispose();
                await Task.Delay(TimeSpan.FromSeconds(1));
                response = await kit.BookAsync(client, start.AddMinutes(i % 3 * 10));
            }

            using var answered = response;
            var unexpected = response.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict ? null : await response.Content.ReadAsStringAsync();
            return (response.StatusCode, response.Content.Headers.ContentType?.MediaType, Unexpected: unexpected);
        }));

        var summary = string.Join(", ", responses.GroupBy(r => r.StatusCode).Select(g => $"{g.Key}: {g.Count()}"))
            + $"\nfirst unexpected answer: {responses.FirstOrDefault(r => r.Unexpected is not null).Unexpected}\nA: {a.Errors}\nB: {b.Errors}";
        Assert.True(responses.Count(r => r.StatusCode == HttpStatusCode.Created) == 1, summary);
        Assert.True(responses.Count(r => r.StatusCode == HttpStatusCode.Conflict && r.MediaType == "application/problem+json") == 199, summary);
        Assert.Equal(1L, await Servers.Shard2Primary.ScalarAsync<long>($"SELECT count(*) FROM bookings WHERE tenant_id = '{kit.Tenant}' AND status <> 'cancelled'"));
        Assert.Equal(1L, await Servers.Shard2Primary.ScalarAsync<long>($"SELECT count(*) FROM booking_slots WHERE tenant_id = '{kit.Tenant}'"));
        Assert.Equal(0L, await Servers.Shard2Primary.ScalarAsync<long>( // the 199 that lost wrote no reminder either
            $"SELECT count(*) FROM reminder_jobs j WHERE j.tenant_id = '{kit.Tenant}' AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.tenant_id = j.tenant_id AND b.id = j.booking_id)"));
        Assert.Equal(0L, await Servers.Shard2Primary.ScalarAsync<long>(
            $"SELECT count(*) FROM booking_slots x JOIN booking_slots y ON x.tenant_id = y.tenant_id AND x.resource_id = y.resource_id AND x.booking_id < y.booking_id AND x.during && y.during AND NOT x.cancelled AND NOT y.cancelled WHERE x.tenant_id = '{kit.Tenant}'"));
    }

    [Fact]
    public async Task Bookings_live_in_monthly_partitions_kept_ahead_on_every_shard()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        foreach (var shard in new[] { Servers.Shard1Primary, Servers.Shard2Primary })
        {
            var partitions = await shard.ScalarAsync<long>("SELECT count(*) FROM pg_inherits WHERE inhparent = 'bookings'::regclass");
            Assert.True(partitions >= 7, $"{shard.Name} has {partitions} booking partitions");
        }

        var kit = await BusinessKit.CreateAsync(app, "shard-1");
        using var client = kit.Client(kit.Customer());
        using var created = await kit.BookAsync(client, BusinessKit.Tomorrow(8));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var partition = await Servers.Shard1Primary.ScalarAsync<string>($"SELECT tableoid::regclass::text FROM bookings WHERE tenant_id = '{kit.Tenant}'");
        Assert.StartsWith("bookings_", partition, StringComparison.Ordinal);
    }

    /// <summary>The host's own cache, with each tag invalidation held back first (an invalidation still on its way).</summary>
    private sealed class SlowTagInvalidation(HybridCache inner, TimeSpan delay) : HybridCache
    {
        public override ValueTask<T> GetOrCreateAsync<TState, T>(
            string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
            => inner.GetOrCreateAsync(key, state, factory, options, tags, cancellationToken);

        public override ValueTask SetAsync<T>(string key, T value, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
            => inner.SetAsync(key, value, options, tags, cancellationToken);

        public override ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default) => inner.RemoveAsync(key, cancellationToken);

        public override async ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default)
        {
            await Task.Delay(delay, cancellationToken);
            await inner.RemoveByTagAsync(tag, cancellationToken);
        }
    }
}
