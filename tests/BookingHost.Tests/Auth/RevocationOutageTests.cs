using System.Net;
using BookingHost.Auth;
using Scaling.Testing;

namespace BookingHost.Tests.Auth;

[Collection(ServersCollection.Name)]
public sealed class RevocationOutageTests(ServersFixture fixture)
{
    private readonly TestServers _servers = fixture.Servers;

    [Fact]
    public async Task While_redis_is_down_tokens_are_accepted_by_default_refused_when_fail_closed_and_logout_is_refused()
    {
        await using var open = await BookingApp.StartAsync(_servers);
        await using var closed = await BookingApp.StartAsync(_servers, open.Cluster, b => b.UseSetting("BookingHost:Jwt:FailClosedWhenRevocationUnavailable", "true"));
        var token = open.Token(BookingRoles.Customer);
        using var openClient = open.CreateClient();
        using var closedClient = closed.CreateClient();
        using (var warm = await closedClient.GetAsync("/api/v1/auth/me", token))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        }

        var redis = _servers.Redis[0];
        await redis.KillAsync();
        try
        {
            using (var accepted = await openClient.GetAsync("/api/v1/auth/me", token))
            {
                Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
            }

            using (var refused = await closedClient.GetAsync("/api/v1/auth/me", token))
            {
                await refused.AssertProblemAsync(HttpStatusCode.Unauthorized, "token-invalid");
            }

            using var logout = await openClient.SendAsync(HttpMethod.Post, "/api/v1/auth/logout", token);
            await logout.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "revocation-unavailable");
            Assert.Equal("1", logout.Headers.RetryAfter?.ToString());
        }
        finally
        {
            await redis.RestartAsync();
        }

        // Back: the sign-out that failed can be retried, and then holds.
        await WaitUntilAsync(async () =>
        {
            using var logout = await openClient.SendAsync(HttpMethod.Post, "/api/v1/auth/logout", token);
            return logout.StatusCode == HttpStatusCode.NoContent;
        });
        // The fail-closed instance refuses the token as revoked once its own connection is back (until then: invalid).
        await WaitUntilAsync(async () =>
        {
            using var response = await closedClient.GetAsync("/api/v1/auth/me", token);
            return (await response.Content.ReadAsStringAsync()).Contains("token-revoked", StringComparison.Ordinal);
        });
        using var revoked = await closedClient.GetAsync("/api/v1/auth/me", token);
        await revoked.AssertProblemAsync(HttpStatusCode.Unauthorized, "token-revoked");
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "Redis did not come back in 20 s.");
            await Task.Delay(250);
        }
    }
}
