using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BookingHost.Auth;
using BookingHost.Tests.Auth;
using Scaling.Testing;
using StackExchange.Redis;

namespace BookingHost.Tests.Idempotency;

/// <summary>
/// No late writes: an idempotency claim or a revocation whose request was answered 503 (Redis paused or down) is never
/// written once Redis is back, so a retry with the same key runs, and a logout that failed revokes nothing behind the
/// user's back.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class LateCommandTests(ServersFixture fixture)
{
    private readonly TestServers _servers = fixture.Servers;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Claims_and_revocations_answered_503_while_Redis_was_paused_or_down_are_not_written_afterwards(bool paused)
    {
        await using var app = await BookingApp.StartAsync(_servers);
        using var client = app.CreateClient();
        var token = app.Token(BookingRoles.Customer);
        using (var warm = await client.GetAsync("/api/v1/auth/me", token))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode); // the revocation check has connected
        }

        var redis = _servers.Redis[0];
        var key = Guid.NewGuid().ToString();
        var body = new { email = AuthApi.NewEmail(), password = AuthApi.Password };
        if (paused)
        {
            await redis.PauseAsync();
        }
        else
        {
            await redis.KillAsync();
        }

        try
        {
            using (var claim = await client.PostJsonAsync("/api/v1/auth/register", body, key))
            {
                await claim.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "idempotency-unavailable");
            }

            using (var logout = await client.SendAsync(HttpMethod.Post, "/api/v1/auth/logout", token))
            {
                await logout.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "revocation-unavailable");
            }

            await Task.Delay(TimeSpan.FromSeconds(1)); // paused: both writes sit unread in Redis's socket
        }
        finally
        {
            if (paused)
            {
                await redis.ResumeAsync();
            }
            else
            {
                await redis.RestartAsync();
            }
        }

        await using var probe = await ConnectionMultiplexer.ConnectAsync(redis.EndPoint + ",abortConnect=false,connectTimeout=2000,allowAdmin=true");
        await Eventually.TrueAsync(async () => (await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(15), "BookingHost reaches Redis again");
        await Task.Delay(TimeSpan.FromSeconds(1));
        var database = probe.GetDatabase();
        Assert.False(await database.KeyExistsAsync("booking:auth:revoked:" + TokenId(token)), "the failed logout revoked the token afterwards");
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
        var claims = (RedisResult[])(await database.ExecuteAsync("KEYS", "booking:idem:*" + hash))!;
        Assert.Empty(claims);

        // The user's retries now work: the same key runs the request once, and the logout holds.
        using (var retry = await client.PostJsonAsync("/api/v1/auth/register", body, key))
        {
            Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        }

        using (var logout = await client.SendAsync(HttpMethod.Post, "/api/v1/auth/logout", token))
        {
            Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        }
    }

    private static string TokenId(string jwt)
    {
        var payload = jwt.Split('.')[1].Replace('-', '+').Replace('_', '/');
        payload = payload.PadRight(payload.Length + ((4 - (payload.Length % 4)) % 4), '=');
        using var json = JsonDocument.Parse(Convert.FromBase64String(payload));
        return json.RootElement.GetProperty("jti").GetString()!;
    }
}
