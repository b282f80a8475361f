using System.Diagnostics;
using System.Net;
using System.Text.Json;
using BookingHost.Tests.Auth;
using Scaling.Testing;

namespace BookingHost.Tests.Domain;

/// <summary>
/// A shard primary that is connected but silent (SIGSTOP) costs its own tenants a fast 503, not a hang, and costs the
/// other shard's tenants nothing; after the resume bookings work again by themselves.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class PausedServerTests(ServersFixture fixture)
{
    // The data source's defaults: a probe timeout of 2 s and a probe every second decide; the answer follows at once.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task With_a_shard_primary_paused_its_bookings_get_a_fast_503_the_other_shard_books_on_and_all_recovers_after_the_resume()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var steady = await BusinessKit.CreateAsync(app, "shard-1");
        var frozen = await BusinessKit.CreateAsync(app, "shard-2");
        using var steadyClient = steady.Client(steady.Customer());
        using var frozenClient = frozen.Client(frozen.Customer());
        using var frozenStaff = frozen.Client(frozen.StaffToken);
        using (var warm = await frozen.BookAsync(frozenClient, BusinessKit.Tomorrow(8)))
        {
            Assert.Equal(HttpStatusCode.Created, warm.StatusCode);
        }

        var answers = new List<(HttpStatusCode Status, TimeSpan Took, string? RetryAfter, string? MediaType)>();
        var steadyTook = new List<TimeSpan>();
        await Servers.Shard2Primary.PauseAsync();
        try
        {
            var clock = Stopwatch.StartNew();
            var slot = 0;
            while (clock.Elapsed < TimeSpan.FromSeconds(8))
            {
                slot++;
                var started = Stopwatch.StartNew();
                using var response = await frozen.BookAsync(frozenClient, BusinessKit.Tomorrow(1).AddDays(slot / 40).AddMinutes(30 * (slot % 40)));
                answers.Add((response.StatusCode, started.Elapsed, response.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), response.Content.Headers.ContentType?.MediaType));

                // Call-next takes a Redlock fencing token from the shard: through the shard's data source, so it is
                // bounded like the booking (it once waited for Npgsql's own timeouts, up to 8 s).
                started.Restart();
                using (var callNext = await frozenStaff.PostAsync("/api/v1/queues/front-desk/call-next", null))
                {
                    answers.Add((callNext.StatusCode, started.Elapsed, callNext.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), callNext.Content.Headers.ContentType?.MediaType));
                }

                started.Restart();
                using var other = await steady.BookAsync(steadyClient, BusinessKit.Tomorrow(1).AddDays(slot / 40).AddMinutes(30 * (slot % 40)));
                Assert.True(other.StatusCode == HttpStatusCode.Created, $"the other shard's booking answered {(int)other.StatusCode}: {await other.Content.ReadAsStringAsync()}");
                steadyTook.Add(started.Elapsed);
            }
        }
        finally
        {
            await Servers.Shard2Primary.ResumeAsync();
        }

        var summary = string.Join(", ", answers.Select(a => $"{(int)a.Status} in {a.Took.TotalMilliseconds:0} ms"));
        Assert.All(answers, a => Assert.True(a.Took <= Bound, $"an answer took {a.Took.TotalMilliseconds:0} ms: {summary}"));
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.ServiceUnavailable, a.Status));
        Assert.All(answers, a => Assert.Equal(("1", "application/problem+json"), (a.RetryAfter, a.MediaType)));
        Assert.True(answers.Count >= 3, summary);
        Assert.True(steadyTook.Max() < TimeSpan.FromSeconds(1), $"the other shard's slowest booking took {steadyTook.Max().TotalMilliseconds:0} ms");

        await Eventually.TrueAsync(
            async () =>
            {
                using var response = await frozen.BookAsync(frozenClient, BusinessKit.Tomorrow(20, Random.Shared.Next(0, 12) * 5));
                return response.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict;
            },
            TimeSpan.FromSeconds(15),
            "bookings on the resumed shard to work again");
        using var page = await frozenClient.GetAsync("/api/v1/bookings?limit=100");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        _ = JsonDocument.Parse(await page.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task With_the_metadata_database_paused_sign_ins_and_refreshes_get_a_fast_503_and_work_again_after_the_resume()
    {
        await using var app = await BookingApp.StartAsync(Servers);
        var (user, tokens) = await app.CreateAndLoginAsync(BookingHost.Auth.BookingRoles.Customer);
        using var client = app.CreateClient();

        var answers = new List<(string Call, HttpStatusCode Status, TimeSpan Took, string? RetryAfter)>();
        await Servers.Metadata.PauseAsync();
        try
        {
            // Several at once, the first before the health monitor has noticed: each is bounded by its verdict.
            var calls = Enumerable.Range(0, 6).Select(async i =>
            {
                var started = Stopwatch.StartNew();
                using var response = i % 2 == 0
                    ? await client.PostJsonAsync("/api/v1/auth/login", new { email = user.Email, password = AuthApi.Password })
                    : await client.PostJsonAsync("/api/v1/auth/refresh", new { refreshToken = tokens.RefreshToken });
                return (i % 2 == 0 ? "login" : "refresh", response.StatusCode, started.Elapsed, response.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
            });
            answers.AddRange(await Task.WhenAll(calls));
        }
        finally
        {
            await Servers.Metadata.ResumeAsync();
        }

        var summary = string.Join(", ", answers.Select(a => $"{a.Call} {(int)a.Status} in {a.Took.TotalMilliseconds:0} ms"));
        Assert.All(answers, a => Assert.True(a.Took <= Bound, $"an answer took {a.Took.TotalMilliseconds:0} ms: {summary}"));
        Assert.All(answers, a => Assert.Equal((HttpStatusCode.ServiceUnavailable, "1"), (a.Status, a.RetryAfter)));

        await Eventually.TrueAsync(
            async () =>
            {
                using var response = await client.PostJsonAsync("/api/v1/auth/login", new { email = user.Email, password = AuthApi.Password });
                return response.StatusCode == HttpStatusCode.OK;
            },
            TimeSpan.FromSeconds(15),
            "sign-ins to work again after the resume");
    }
}
