using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BookingHost.Realtime;
using BookingHost.Reminders;
using BookingHost.Tests.Realtime;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Scaling.Testing;

namespace BookingHost.Tests.Domain;

/// <summary>The booking system's cross-instance behaviour, through its own endpoints, on two instances of one deployment.</summary>
[Collection(ServersCollection.Name)]
public sealed class TwoInstanceTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task A_booking_retried_with_its_idempotency_key_on_the_other_instance_returns_the_original_response_and_creates_nothing()
    {
        await using var a = await BookingApp.StartAsync(Servers);
        await using var b = await BookingApp.StartAsync(Servers, a.Cluster);
        var kit = await BusinessKit.CreateAsync(a, "shard-1");
        var customer = kit.Customer();
        var key = Guid.NewGuid().ToString();
        var body = new { serviceId = kit.ServiceId, resourceId = kit.ResourceId, startsAt = BusinessKit.Tomorrow(13) };

        Task<HttpResponseMessage> SendAsync(BookingApp app)
        {
            var client = kit.Client(customer, app);
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/bookings") { Content = JsonContent.Create(body) };
            request.Headers.Add("Idempotency-Key", key);
            return client.SendAsync(request);
        }

        using var first = await SendAsync(a);
        using var retry = await SendAsync(b);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await retry.Content.ReadAsStringAsync());
        Assert.Equal("true", retry.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(first.Headers.Location, retry.Headers.Location);
        Assert.Equal(1L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM bookings WHERE tenant_id = '{kit.Tenant}'"));
    }

    [Fact]
    public async Task A_booking_made_on_one_instance_reaches_a_live_client_on_the_other_and_its_reminders_are_queued_and_cancelled_with_it()
    {
        await using var a = await BookingApp.StartAsync(Servers);
        await using var b = await BookingApp.StartAsync(Servers, a.Cluster);
        await Eventually.TrueAsync(
            () => Task.FromResult(new[] { a, b }.All(x => x.Services.GetRequiredService<RealtimeHub>().IsSubscribed)),
            TimeSpan.FromSeconds(10),
            "both instances subscribed");
        var kit = await BusinessKit.CreateAsync(a, "shard-2");
        await using var watcher = await SseClient.ConnectAsync(kit.Client(kit.StaffToken, b));

        using var client = kit.Client(kit.Customer(), a);
        var start = DateTimeOffset.UtcNow.AddDays(2);
        start = new DateTimeOffset(start.Year, start.Month, start.Day, start.Hour, 0, 0, TimeSpan.Zero);
        using var booked = await kit.BookAsync(client, start);
        Assert.Equal(HttpStatusCode.Created, booked.StatusCode);
        var id = (await booked.Content.ReadFromJsonAsync<JsonElement>(BusinessKit.Json)).GetProperty("id").GetGuid();

        var seen = await watcher.NextAsync(TimeSpan.FromSeconds(5));
        Assert.Equal("booking.created", seen.Type);
        Assert.Equal(id, seen.Json.GetProperty("data").GetProperty("id").GetGuid());

        // The 24 h and 1 h reminders were written in the booking's transaction.
        Assert.Equal(2L, await Servers.Shard2Primary.ScalarAsync<long>($"SELECT count(*) FROM reminder_jobs WHERE tenant_id = '{kit.Tenant}' AND booking_id = '{id}' AND status = 'pending'"));
        var schedule = ReminderJobs.Schedule;
        Assert.Equal( // each due at its offset before the start (1h, then 24h)
            $"{(start - schedule.HourBefore).ToUnixTimeMilliseconds()},{(start - schedule.DayBefore).ToUnixTimeMilliseconds()}",
            await Servers.Shard2Primary.ScalarAsync<string>($"SELECT string_agg((extract(epoch FROM due_at) * 1000)::bigint::text, ',' ORDER BY kind) FROM reminder_jobs WHERE tenant_id = '{kit.Tenant}' AND booking_id = '{id}'"));
        using var cancelled = await client.PostAsync($"/api/v1/bookings/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        Assert.Equal("booking.cancelled", (await watcher.NextAsync(TimeSpan.FromSeconds(5))).Type);
        Assert.Equal(2L, await Servers.Shard2Primary.ScalarAsync<long>($"SELECT count(*) FROM reminder_jobs WHERE tenant_id = '{kit.Tenant}' AND booking_id = '{id}' AND status = 'cancelled'"));
    }

    [Fact]
    public async Task One_rate_limit_is_shared_by_both_instances_with_ietf_headers_and_a_problem_on_429()
    {
        void Limit(IWebHostBuilder web) => web.UseSetting("BookingHost:AnonymousPerMinute", "10");
        await using var a = await BookingApp.StartAsync(Servers, configure: Limit);
        await using var b = await BookingApp.StartAsync(Servers, a.Cluster, Limit);
        var tenant = await a.CreateBusinessAsync("shard-1");
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? rejected = null;
        for (var i = 0; i < 16; i++)
        {
            var response = await (i % 2 == 0 ? a : b).ClientFor(tenant).GetAsync("/api/v1/services");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                rejected ??= response;
            }
            else
            {
                Assert.True(response.Headers.Contains("RateLimit-Policy"), "RateLimit-Policy header");
                Assert.True(response.Headers.Contains("RateLimit"), "RateLimit header");
                response.Dispose();
            }
        }

        Assert.Equal(10, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(6, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        Assert.NotNull(rejected!.Headers.RetryAfter);

        // Tiers: a premium business's staff count under the premium tier and their business's daily quota.
        var premium = await a.CreateBusinessAsync("shard-2", plan: "premium");
        using var staff = await a.ClientFor(premium, a.Token(BookingHost.Auth.BookingRoles.Staff, premium)).GetAsync("/api/v1/services");
        var policies = string.Join(", ", staff.Headers.GetValues("RateLimit-Policy"));
        Assert.Contains("\"premium\"", policies, StringComparison.Ordinal);
        Assert.Contains("\"business-premium-daily\"", policies, StringComparison.Ordinal);

        // One tenant identity: the business that resolution produced decides, not the token's claims. A customer (no
        // tenant or plan claim) at the premium business counts under its plan; a token claiming "premium" at a basic
        // business counts under the basic plan.
        using var customer = await a.ClientFor(premium, a.Token(BookingHost.Auth.BookingRoles.Customer)).GetAsync("/api/v1/services");
        Assert.Contains("\"business-premium-daily\"", string.Join(", ", customer.Headers.GetValues("RateLimit-Policy")), StringComparison.Ordinal);
        var basic = await a.CreateBusinessAsync("shard-1");
        using var claimsPremium = await a.ClientFor(basic, a.Token(BookingHost.Auth.BookingRoles.Customer, plan: "premium")).GetAsync("/api/v1/services");
        var basicPolicies = string.Join(", ", claimsPremium.Headers.GetValues("RateLimit-Policy"));
        Assert.Contains("\"business-basic-daily\"", basicPolicies, StringComparison.Ordinal);
        Assert.DoesNotContain("\"premium\"", basicPolicies, StringComparison.Ordinal);
        Assert.Equal("application/problem+json", rejected.Content.Headers.ContentType?.MediaType);
        rejected.Dispose();
    }

    [Fact]
    public async Task The_openapi_document_describes_the_api()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var document = await app.CreateClient().GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Contains("/api/v1/bookings", paths);
        Assert.Contains("/api/v1/availability", paths);
        Assert.Contains("/api/v1/queues/{location}/call-next", paths);
        Assert.Contains("/api/v1/auth/login", paths);
        Assert.Contains("/api/v1/events", paths);
    }
}
