using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using BookingHost.Auth;
using Scaling.Testing;

namespace BookingHost.Tests.Domain;

/// <summary>Every boundary a user might try to cross, and bad input: each refused with problem+json, nothing written.</summary>
[Collection(ServersCollection.Name)]
public sealed class BoundaryTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task A_customer_sees_and_changes_only_their_own_bookings_and_staff_only_their_own_business()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var mine = await BusinessKit.CreateAsync(app, "shard-1");
        var theirs = await BusinessKit.CreateAsync(app, "shard-2");
        var alice = Guid.NewGuid();
        using var aliceClient = mine.Client(mine.Customer(alice));
        using var bobClient = mine.Client(mine.Customer());
        using var aliceBooking = await mine.BookAsync(aliceClient, BusinessKit.Tomorrow(9));
        var aliceId = (await aliceBooking.Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json)).GetProperty("id").GetGuid();
        var token = aliceBooking.Headers.GetValues("X-Consistency-Token").Single();
        bobClient.DefaultRequestHeaders.Add("X-Consistency-Token", token);

        Assert.Equal(HttpStatusCode.NotFound, (await bobClient.GetAsync($"/api/v1/bookings/{aliceId}")).StatusCode);
        Assert.Empty((await bobClient.GetFromJsonAsync<JsonElement>("/api/v1/bookings")).GetProperty("items").EnumerateArray());
        Assert.Equal(HttpStatusCode.NotFound, (await bobClient.PostAsync($"/api/v1/bookings/{aliceId}/cancel", null)).StatusCode); // not yours: 404 for every verb, as for GET
        using (var forOther = await bobClient.PostAsJsonAsync("/api/v1/bookings", new { serviceId = mine.ServiceId, resourceId = mine.ResourceId, startsAt = BusinessKit.Tomorrow(11), customerId = alice }))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forOther.StatusCode);
        }

        // Staff of another business: the tenant claim does not match the requested business → 403 everywhere.
        using var intruder = mine.Client(theirs.StaffToken);
        Assert.Equal(HttpStatusCode.Forbidden, (await intruder.GetAsync("/api/v1/bookings")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await intruder.PostAsync($"/api/v1/bookings/{aliceId}/complete", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await intruder.PostAsJsonAsync("/api/v1/services", new { name = "x", durationMinutes = 10, priceCents = 1 })).StatusCode);

        // Staff of this business see every booking; staff cannot do the owner's job.
        using var staff = mine.Client(mine.StaffToken);
        staff.DefaultRequestHeaders.Add("X-Consistency-Token", token);
        Assert.Equal(HttpStatusCode.OK, (await staff.GetAsync($"/api/v1/bookings/{aliceId}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await staff.PostAsJsonAsync("/api/v1/services", new { name = "x", durationMinutes = 10, priceCents = 1 })).StatusCode);

        // Platform endpoints are for platform admins only.
        Assert.Equal(HttpStatusCode.Forbidden, (await mine.Client(mine.OwnerToken).GetAsync("/api/v1/platform/analytics/bookings-per-day")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await mine.Client(null).PostAsJsonAsync("/api/v1/bookings", new { })).StatusCode);
        Assert.Equal(1L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM bookings WHERE tenant_id = '{mine.Tenant}'"));
        Assert.Equal(0L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM services WHERE tenant_id = '{mine.Tenant}' AND name = 'x'"));
    }

    [Fact]
    public async Task Bad_input_is_refused_with_problem_json_and_nothing_is_written()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var kit = await BusinessKit.CreateAsync(app, "shard-2");
        using var client = kit.Client(kit.Customer());
        var cases = new (string Name, Func<Task<HttpResponseMessage>> Send, HttpStatusCode Expected)[]
        {
            ("malformed JSON", () => client.PostAsync("/api/v1/bookings", new StringContent("{\"serviceId\": ", Encoding.UTF8, "application/json")), HttpStatusCode.BadRequest),
            ("unknown field", () => client.PostAsync("/api/v1/bookings", new StringContent($"{{\"serviceId\":\"{kit.ServiceId}\",\"resourceId\":\"{kit.ResourceId}\",\"startsAt\":\"{BusinessKit.Tomorrow(9):O}\",\"price\":0}}", Encoding.UTF8, "application/json")), HttpStatusCode.BadRequest),
            ("in the past", () => kit.BookAsync(client, DateTimeOffset.UtcNow.AddHours(-1)), HttpStatusCode.BadRequest),
            ("too far ahead", () => kit.BookAsync(client, DateTimeOffset.UtcNow.AddYears(3)), HttpStatusCode.BadRequest),
            ("missing fields", () => client.PostAsJsonAsync("/api/v1/bookings", new { }), HttpStatusCode.BadRequest),
            ("unknown service", () => client.PostAsJsonAsync("/api/v1/bookings", new { serviceId = Guid.NewGuid(), resourceId = kit.ResourceId, startsAt = BusinessKit.Tomorrow(9) }), HttpStatusCode.BadRequest),
            ("notes with a control character", () => kit.BookAsync(client, BusinessKit.Tomorrow(9), "a\u0000b"), HttpStatusCode.BadRequest),
            ("oversized body", () => client.PostAsync("/api/v1/bookings", new StringContent("{\"notes\":\"" + new string('x', 100_000) + "\"}", Encoding.UTF8, "application/json")), HttpStatusCode.RequestEntityTooLarge),
            ("bad cursor", () => client.GetAsync("/api/v1/bookings?cursor=%27%3B%20DROP%20TABLE%20bookings%3B--"), HttpStatusCode.BadRequest),
            ("bad limit", () => client.GetAsync("/api/v1/bookings?limit=100000"), HttpStatusCode.BadRequest),
            ("bad from", () => client.GetAsync("/api/v1/bookings?from=yesterday"), HttpStatusCode.BadRequest),
            ("unknown tenant", () => app.ClientFor(Scaling.Tenancy.TenantId.Parse("no-such-business-x"), kit.Customer()).GetAsync("/api/v1/services"), HttpStatusCode.NotFound),
            ("malformed tenant", () => { var c = app.CreateClient(); c.DefaultRequestHeaders.Add("X-Tenant", "Robert'); DROP TABLE bookings;--"); return c.GetAsync("/api/v1/services"); }, HttpStatusCode.BadRequest),
        };

        foreach (var (name, send, expected) in cases)
        {
            using var response = await send();
            if (name == "unknown field")
            {
                Assert.Contains("'price'", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal); // says what was wrong
            }

            Assert.True(expected == response.StatusCode, $"{name}: expected {expected}, got {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"{name}: {response.Content.Headers.ContentType}");
        }

        // An absurd service duration, a bad time zone and working hours that close before they open (owner).
        using var owner = kit.Client(kit.OwnerToken);
        Assert.Equal(HttpStatusCode.BadRequest, (await owner.PostAsJsonAsync("/api/v1/services", new { name = "Forever", durationMinutes = 100_000, priceCents = 1 })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await owner.PutAsJsonAsync("/api/v1/business", new { timeZone = "Mars/Olympus" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await owner.PostAsJsonAsync("/api/v1/resources", new { name = "Room", kind = "room", hours = new[] { new { weekday = 1, opens = "18:00:00", closes = "09:00:00" } } })).StatusCode);

        // Outside working hours: a resource open 09:00–17:00 only.
        using var resource = await owner.PostAsJsonAsync("/api/v1/resources", new { name = "Day shift", kind = "staff", hours = Enumerable.Range(0, 7).Select(d => new { weekday = d, opens = "09:00:00", closes = "17:00:00" }) });
        var dayShift = (await resource.Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json)).GetProperty("id").GetGuid();
        using var late = await client.PostAsJsonAsync("/api/v1/bookings", new { serviceId = kit.ServiceId, resourceId = dayShift, startsAt = BusinessKit.Tomorrow(16, 45) });
        Assert.Equal(HttpStatusCode.BadRequest, late.StatusCode);
        Assert.Contains("working hours", await late.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Injection attempts in string fields are stored as text, harmlessly.
        const string Sneaky = "'); DELETE FROM bookings; -- <script>alert(1)</script>";
        using var stored = await kit.BookAsync(client, BusinessKit.Tomorrow(20), Sneaky);
        Assert.Equal(HttpStatusCode.Created, stored.StatusCode);
        Assert.Equal(Sneaky, (await stored.Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json)).GetProperty("notes").GetString());
        Assert.Equal(1L, await Servers.Shard2Primary.ScalarAsync<long>($"SELECT count(*) FROM bookings WHERE tenant_id = '{kit.Tenant}'"));
        Assert.Equal(0L, await Servers.Shard2Primary.ScalarAsync<long>($"SELECT count(*) FROM services WHERE tenant_id = '{kit.Tenant}' AND name = 'Forever'"));
        Assert.True(app.Errors.ToString().Length == 0, app.Errors.ToString()); // bad input is not a server error
    }
}
