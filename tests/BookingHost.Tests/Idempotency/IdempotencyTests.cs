using System.Globalization;
using System.Net;
using System.Text;
using BookingHost.Auth;
using BookingHost.Tests.Auth;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Scaling.Testing;

namespace BookingHost.Tests.Idempotency;

[Collection(ServersCollection.Name)]
public sealed class IdempotencyTests(ServersFixture fixture)
{
    private const string Register = "/api/v1/auth/register";
    private readonly TestServers _servers = fixture.Servers;

    [Fact]
    public async Task A_retry_gets_the_original_response_byte_for_byte_on_this_and_the_other_instance()
    {
        await using var first = await BookingApp.StartAsync(_servers);
        await using var second = await BookingApp.StartAsync(_servers, first.Cluster);
        using var a = first.CreateClient();
        using var b = second.CreateClient();
        var key = Guid.NewGuid().ToString();
        var email = AuthApi.NewEmail();
        var body = new { email, password = AuthApi.Password };

        using var original = await a.PostJsonAsync(Register, body, key);
        Assert.Equal(HttpStatusCode.Created, original.StatusCode);
        Assert.False(original.Headers.Contains("Idempotent-Replayed"));
        var originalBody = await original.Content.ReadAsStringAsync();

        foreach (var client in new[] { a, b })
        {
            using var retry = await client.PostJsonAsync(Register, body, key);
            Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
            Assert.Equal(originalBody, await retry.Content.ReadAsStringAsync());
            Assert.Equal(original.Content.Headers.ContentType?.ToString(), retry.Content.Headers.ContentType?.ToString());
            Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        }

        // One account: without the key the same request is a duplicate.
        using var withoutKey = await b.PostJsonAsync(Register, body);
        await withoutKey.AssertProblemAsync(HttpStatusCode.Conflict, "email-taken");
        var id = (await (await a.PostJsonAsync(Register, body, key)).JsonAsync()).GetProperty("id").GetGuid();
        Assert.Equal(id, (await first.Services.GetRequiredService<UserDirectory>().FindByEmailAsync(email, CancellationToken.None))!.Id);
    }

    [Fact]
    public async Task The_same_key_with_another_request_is_422_and_malformed_keys_are_400()
    {
        await using var app = await BookingApp.StartAsync(_servers);
        using var client = app.CreateClient();
        var key = Guid.NewGuid().ToString();
        using (var original = await client.PostJsonAsync(Register, new { email = AuthApi.NewEmail(), password = AuthApi.Password }, key))
        {
            Assert.Equal(HttpStatusCode.Created, original.StatusCode);
        }

        using (var otherBody = await client.PostJsonAsync(Register, new { email = AuthApi.NewEmail(), password = AuthApi.Password }, key))
        {
            await otherBody.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "idempotency-key-reused");
        }

        foreach (var bad in new[] { new string('k', 256), "ключ", "tab\there" })
        {
            using var response = await client.PostJsonAsync(Register, new { email = AuthApi.NewEmail(), password = AuthApi.Password }, bad);
            await response.AssertProblemAsync(HttpStatusCode.BadRequest, "idempotency-key-invalid");
        }

        using var longest = await client.PostJsonAsync(Register, new { email = AuthApi.NewEmail(), password = AuthApi.Password }, (Guid.NewGuid().ToString("N") + new string('~', 255))[..255]);
        Assert.Equal(HttpStatusCode.Created, longest.StatusCode);
    }

    [Fact]
    public async Task Client_errors_are_stored_and_replayed_too()
    {
        await using var app = await BookingApp.StartAsync(_servers);
        using var client = app.CreateClient();
        var key = Guid.NewGuid().ToString();
        var invalid = new { email = "nope", password = "short" };

        using var first = await client.PostJsonAsync(Register, invalid, key);
        await first.AssertProblemAsync(HttpStatusCode.BadRequest, "validation-failed");
        using var retry = await client.PostJsonAsync(Register, invalid, key);
        await retry.AssertProblemAsync(HttpStatusCode.BadRequest, "validation-failed");
        Assert.Equal(await first.Content.ReadAsStringAsync(), await retry.Content.ReadAsStringAsync());
        Assert.True(retry.Headers.Contains("Idempotent-Replayed"));
    }

    [Fact]
    public async Task Keys_are_scoped_by_user()
    {
        await using var app = await BookingApp.StartAsync(_servers);
        var (_, admin1) = await app.CreateAndLoginAsync(BookingRoles.PlatformAdmin);
        var (_, admin2) = await app.CreateAndLoginAsync(BookingRoles.PlatformAdmin);
        using var client = app.CreateClient();
        var key = "create-customer-1";

        using var one = await client.SendAsync(HttpMethod.Post, "/api/v1/auth/users", admin1.AccessToken, new { email = AuthApi.NewEmail(), password = AuthApi.Password, role = "customer" }, idempotencyKey: key);
        using var two = await client.SendAsync(HttpMethod.Post, "/api/v1/auth/users", admin2.AccessToken, new { email = AuthApi.NewEmail(), password = AuthApi.Password, role = "customer" }, idempotencyKey: key);
        Assert.Equal(HttpStatusCode.Created, one.StatusCode);
        Assert.Equal(HttpStatusCode.Created, two.StatusCode);
        Assert.False(two.Headers.Contains("Idempotent-Replayed"));
        Assert.NotEqual((await one.JsonAsync()).GetProperty("id").GetGuid(), (await two.JsonAsync()).GetProperty("id").GetGuid());
    }

    [Fact]
    public async Task A_retry_while_the_first_runs_gets_409_with_retry_after_then_the_response()
    {
        // A slow password hash (about a second) keeps the first request running.
        await using var first = await BookingApp.StartAsync(_servers, configure: b => b.ConfigureTestServices(s => s.Configure<PasswordHasherOptions>(o => o.IterationCount = 3_000_000)));
        await using var second = await BookingApp.StartAsync(_servers, first.Cluster);
        using var a = first.CreateClient();
        using var b = second.CreateClient();
        var key = Guid.NewGuid().ToString();
        var body = new { email = AuthApi.NewEmail(), password = AuthApi.Password };

        // Both instances answer a keyed request once before the race (an invalid one: stored, and no password hashed),
        // so that neither's cold start (its first Redis round trips, code compiled on first use) is timed against the
        // race on a loaded machine: a cold first instance could claim the key after the warm second one did.
        foreach (var client in new[] { a, b })
        {
            using var warm = await client.PostJsonAsync(Register, new { email = "nope", password = "short" }, Guid.NewGuid().ToString());
            await warm.AssertProblemAsync(HttpStatusCode.BadRequest, "validation-failed");
        }

        var running = a.PostJsonAsync(Register, body, key);
        await Task.Delay(300);
        using (var concurrent = await b.PostJsonAsync(Register, body, key))
        {
            Assert.False(running.IsCompleted, "the first request finished too fast for this test");
            var problem = await concurrent.AssertProblemAsync(HttpStatusCode.Conflict, "idempotency-in-progress");
            Assert.True(problem.GetProperty("retryable").GetBoolean());
            Assert.Equal("1", concurrent.Headers.RetryAfter?.ToString());
        }

        using var original = await running;
        Assert.Equal(HttpStatusCode.Created, original.StatusCode);
        using var retry = await b.PostJsonAsync(Register, body, key);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal(await original.Content.ReadAsStringAsync(), await retry.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task With_redis_down_a_keyed_request_is_refused_by_default_and_runs_when_configured()
    {
        await using var reject = await BookingApp.StartAsync(_servers);
        await using var run = await BookingApp.StartAsync(_servers, reject.Cluster, b => b.UseSetting("BookingHost:Idempotency:WhenStoreUnavailable", "RunWithoutIdempotency"));
        using var rejecting = reject.CreateClient();
        using var running = run.CreateClient();
        var redis = _servers.Redis[0];
        await redis.KillAsync();
        try
        {
            var email = AuthApi.NewEmail();
            using (var refused = await rejecting.PostJsonAsync(Register, new { email, password = AuthApi.Password }, Guid.NewGuid().ToString()))
            {
                await refused.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "idempotency-unavailable");
                Assert.Equal("1", refused.Headers.RetryAfter?.ToString());
            }

            Assert.Null(await reject.Services.GetRequiredService<UserDirectory>().FindByEmailAsync(email, CancellationToken.None));

            using (var withoutKey = await rejecting.PostJsonAsync(Register, new { email, password = AuthApi.Password }))
            {
                Assert.Equal(HttpStatusCode.Created, withoutKey.StatusCode);
            }

            using var ran = await running.PostJsonAsync(Register, new { email = AuthApi.NewEmail(), password = AuthApi.Password }, Guid.NewGuid().ToString());
            Assert.Equal(HttpStatusCode.Created, ran.StatusCode);
        }
        finally
        {
            await redis.RestartAsync();
        }
    }

    [Fact]
    public async Task A_keyed_body_up_to_the_limit_runs_and_replays_and_one_byte_more_is_413_with_or_without_a_length()
    {
        static byte[] Body(string email, string tail = "") => Encoding.UTF8.GetBytes($"{{\"email\":\"{email}\",\"password\":\"{AuthApi.Password}\"}}{tail}");
        var limit = Body(AuthApi.NewEmail()).Length; // every new address has the same length
        await using var app = await BookingApp.StartAsync(_servers, configure: b => b.UseSetting("BookingHost:Idempotency:MaxRequestBytes", limit.ToString(CultureInfo.InvariantCulture)));
        using var client = app.CreateClient();
        var users = app.Services.GetRequiredService<UserDirectory>();
        foreach (var declared in new[] { true, false })
        {
            // At the limit: the endpoint reads the body the fingerprint read, and a retry replays the first answer.
            var email = AuthApi.NewEmail();
            var key = Guid.NewGuid().ToString();
            using var first = await client.SendAsync(Post(Body(email), key, declared));
            Assert.Equal(HttpStatusCode.Created, first.StatusCode);
            using var retry = await client.SendAsync(Post(Body(email), key, declared));
            Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
            Assert.True(retry.Headers.Contains("Idempotent-Replayed"));
            Assert.Equal(await first.Content.ReadAsByteArrayAsync(), await retry.Content.ReadAsByteArrayAsync());

            // One byte over (valid JSON with a trailing space): refused before it runs.
            var over = AuthApi.NewEmail();
            using var refused = await client.SendAsync(Post(Body(over, " "), Guid.NewGuid().ToString(), declared));
            await refused.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge, "body-too-large");
            Assert.Null(await users.FindByEmailAsync(over, CancellationToken.None));
        }

        static HttpRequestMessage Post(byte[] body, string key, bool declared)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, Register) { Content = declared ? new ByteArrayContent(body) : new UnknownLengthContent(body) };
            request.Content.Headers.ContentType = new("application/json");
            request.Headers.Add("Idempotency-Key", key);
            return request;
        }
    }

    /// <summary>A body sent without Content-Length (chunked), in two writes.</summary>
    private sealed class UnknownLengthContent(byte[] body) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(body.AsMemory(0, body.Length / 2));
            await stream.FlushAsync();
            await stream.WriteAsync(body.AsMemory(body.Length / 2));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
