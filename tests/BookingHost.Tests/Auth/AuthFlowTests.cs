using System.Net;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Scaling.Testing;

namespace BookingHost.Tests.Auth;

[Collection(ServersCollection.Name)]
public sealed class AuthFlowTests(ServersFixture fixture)
{
    private readonly TestServers _servers = fixture.Servers;

    [Fact]
    public async Task Register_login_me_refresh_and_logout()
    {
        await using var app = await BookingApp.StartAsync(_servers);
        using var client = app.CreateClient();
        var email = AuthApi.NewEmail();

        using var registered = await client.PostJsonAsync("/api/v1/auth/register", new { email = "  " + email.ToUpperInvariant() + " ", password = AuthApi.Password });
        Assert.Equal(HttpStatusCode.Created, registered.StatusCode);
        Assert.Equal("application/json", registered.Content.Headers.ContentType?.MediaType);
        var account = await registered.JsonAsync();
        var id = account.GetProperty("id").GetGuid();
        Assert.Equal(email, account.GetProperty("email").GetString());
        Assert.Equal("customer", account.GetProperty("role").GetString());

        var tokens = await client.LoginAsync(email.ToUpperInvariant());
        Assert.InRange(tokens.ExpiresAt - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5.1));
        Assert.InRange(tokens.RefreshExpiresAt - DateTimeOffset.UtcNow, TimeSpan.FromDays(29.9), TimeSpan.FromDays(30.1));
        var claims = new JsonWebToken(tokens.AccessToken);
        Assert.Equal(id.ToString(), claims.Subject);
        Assert.Equal("customer", claims.GetClaim("role").Value);
        Assert.False(claims.TryGetClaim("tenant", out _));

        using (var me = await client.GetAsync("/api/v1/auth/me", tokens.AccessToken))
        {
            Assert.Equal(HttpStatusCode.OK, me.StatusCode);
            var json = await me.JsonAsync();
            Assert.Equal(id, json.GetProperty("id").GetGuid());
            Assert.Equal(claims.Id, json.GetProperty("tokenId").GetString());
        }

        using var refreshed = await client.PostJsonAsync("/api/v1/auth/refresh", new { refreshToken = tokens.RefreshToken });
        Assert.Equal(HttpStatusCode.OK, refreshed.StatusCode);
        var rotated = Tokens.From(await refreshed.JsonAsync());
        Assert.NotEqual(tokens.RefreshToken, rotated.RefreshToken);
        Assert.NotEqual(tokens.AccessToken, rotated.AccessToken);
        Assert.Equal(id.ToString(), new JsonWebToken(rotated.AccessToken).Subject);

        using (var logout = await client.SendAsync(HttpMethod.Post, "/api/v1/auth/logout", rotated.AccessToken, new { refreshToken = rotated.RefreshToken }))
        {
            Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        }

        using (var me = await client.GetAsync("/api/v1/auth/me", rotated.AccessToken))
        {
            await me.AssertProblemAsync(HttpStatusCode.Unauthorized, "token-revoked");
            Assert.Contains("invalid_token", me.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        }

        using (var again = await client.PostJsonAsync("/api/v1/auth/refresh", new { refreshToken = rotated.RefreshToken }))
        {
            await again.AssertProblemAsync(HttpStatusCode.Unauthorized, "refresh-revoked");
        }

        // Logout with the refresh token ends the whole sign-in: the family's earlier access token is revoked too.
        using (var me = await client.GetAsync("/api/v1/auth/me", tokens.AccessToken))
        {
            await me.AssertProblemAsync(HttpStatusCode.Unauthorized, "token-revoked");
        }
    }

    [Fact]
    public async Task A_token_revoked_on_one_instance_is_refused_by_the_other()
    {
        await using var first = await BookingApp.StartAsync(_servers);
        await using var second = await BookingApp.StartAsync(_servers, first.Cluster);
        await AuthApi.AssertRevocationReachesAsync(first, second);
    }

    [Fact]
    public async Task Reusing_a_rotated_refresh_token_revokes_the_whole_family()
    {
        await using var app = await BookingApp.StartAsync(_servers);
        using var client = app.CreateClient();
        var email = AuthApi.NewEmail();
        await client.RegisterAsync(email);
        var original = await client.LoginAsync(email);
        var other = await client.LoginAsync(email); // another sign-in: another family, untouched

        using var first = await client.PostJsonAsync("/api/v1/auth/refresh", new { refreshToken = original.RefreshToken });
        var legit = Tokens.From(await first.JsonAsync());

        // The stolen (already rotated) token is presented again.
        using (var reuse = await client.PostJsonAsync("/api/v1/auth/refresh", new { refreshToken = original.RefreshToken }))
        {
            await reuse.AssertProblemAsync(HttpStatusCode.Unauthorized, "refresh-reused");
        }

        // The family is gone: the legitimate successor no longer refreshes, its access token is revoked.
        using (var successor = await client.PostJsonAsync("/api/v1/auth/refresh", new { refreshToken = legit.RefreshToken }))
        {
            await successor.AssertProblemAsync(HttpStatusCode.Unauthorized, "refresh-revoked");
        }

        using (var me = await client.GetAsync("/api/v1/auth/me", legit.AccessToken))
        {
            await me.AssertProblemAsync(HttpStatusCode.Unauthorized, "token-revoked");
        }

        using (var untouched = await client.PostJsonAsync("/api/v1/auth/refresh", new { refreshToken = other.RefreshToken }))
        {
            Assert.Equal(HttpStatusCode.OK, untouched.StatusCode);
        }

        using var garbage = await client.PostJsonAsync("/api/v1/auth/refresh", new { refreshToken = "not-a-token" });
        await garbage.AssertProblemAsync(HttpStatusCode.Unauthorized, "refresh-invalid");
    }

    [Fact]
    public async Task An_expired_access_token_is_refused()
    {
        await using var app = await BookingApp.StartAsync(_servers, configure: b => b.UseSetting("BookingHost:Jwt:AccessTokenLifetime", "00:00:01"));
        using var client = app.CreateClient();
        var token = app.Token("customer");
        using (var fresh = await client.GetAsync("/api/v1/auth/me", token))
        {
            Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
        }

        // Lifetime 1 s plus the 5 s clock skew validation allows.
        await Task.Delay(TimeSpan.FromSeconds(6.5));

        using var expired = await client.GetAsync("/api/v1/auth/me", token);
        await expired.AssertProblemAsync(HttpStatusCode.Unauthorized, "token-expired");
    }

    [Fact]
    public async Task Forged_and_tampered_tokens_are_refused()
    {
        await using var app = await BookingApp.StartAsync(_servers);
        using var client = app.CreateClient();

        // Signed with another key.
        var forgedIssuer = new BookingHost.Auth.AccessTokenIssuer(
            Microsoft.Extensions.Options.Options.Create(new BookingHost.Auth.JwtOptions { SigningKey = "an-attacker-key-that-is-long-enough-0123456789" }),
            TimeProvider.System,
            app.Router.Map);
        var forged = forgedIssuer.Issue(Guid.NewGuid(), "platform-admin", null).Token;
        using (var response = await client.GetAsync("/api/v1/auth/me", forged))
        {
            await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "token-signature-invalid");
        }

        // A real token whose payload was edited (customer -> platform-admin).
        var parts = app.Token("customer").Split('.');
        var payload = Encoding.UTF8.GetString(Base64UrlDecode(parts[1])).Replace("\"customer\"", "\"platform-admin\"", StringComparison.Ordinal);
        var tampered = $"{parts[0]}.{Base64UrlEncode(Encoding.UTF8.GetBytes(payload))}.{parts[2]}";
        using (var response = await client.GetAsync("/api/v1/auth/me", tampered))
        {
            await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "token-signature-invalid");
        }

        // "alg": "none".
        var unsigned = $"{Base64UrlEncode("{\"alg\":\"none\",\"typ\":\"JWT\"}"u8.ToArray())}.{parts[1]}.";
        using (var response = await client.GetAsync("/api/v1/auth/me", unsigned))
        {
            await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
        }

        using var anonymous = await client.GetAsync("/api/v1/auth/me", accessToken: null);
        await anonymous.AssertProblemAsync(HttpStatusCode.Unauthorized, "authentication-required");
        Assert.Equal("Bearer", anonymous.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task Wrong_credentials_get_the_same_401_for_unknown_email_and_wrong_password()
    {
        await using var app = await BookingApp.StartAsync(_servers);
        using var client = app.CreateClient();
        var email = AuthApi.NewEmail();
        await client.RegisterAsync(email);

        using var wrongPassword = await client.PostJsonAsync("/api/v1/auth/login", new { email, password = "wrong password" });
        using var unknownEmail = await client.PostJsonAsync("/api/v1/auth/login", new { email = AuthApi.NewEmail(), password = AuthApi.Password });
        var a = await wrongPassword.AssertProblemAsync(HttpStatusCode.Unauthorized, "invalid-credentials");
        var b = await unknownEmail.AssertProblemAsync(HttpStatusCode.Unauthorized, "invalid-credentials");
        Assert.Equal(a.GetProperty("detail").GetString(), b.GetProperty("detail").GetString());

        using var missing = await client.PostJsonAsync("/api/v1/auth/login", new { email });
        var problem = await missing.AssertProblemAsync(HttpStatusCode.BadRequest, "validation-failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty("password", out _));
    }

    [Fact]
    public async Task Register_validates_every_field_and_refuses_duplicates()
    {
        await using var app = await BookingApp.StartAsync(_servers);
        using var client = app.CreateClient();

        using (var bad = await client.PostJsonAsync("/api/v1/auth/register", new { email = "not-an-email", password = "short" }))
        {
            var problem = await bad.AssertProblemAsync(HttpStatusCode.BadRequest, "validation-failed");
            var errors = problem.GetProperty("errors");
            Assert.Contains("not valid", errors.GetProperty("email")[0].GetString(), StringComparison.Ordinal);
            Assert.Contains("8 to 128", errors.GetProperty("password")[0].GetString(), StringComparison.Ordinal);
        }

        using (var tooLong = await client.PostJsonAsync("/api/v1/auth/register", new { email = new string('a', 250) + "@example.com", password = new string('p', 129) }))
        {
            var errors = (await tooLong.AssertProblemAsync(HttpStatusCode.BadRequest, "validation-failed")).GetProperty("errors");
            Assert.Contains("254", errors.GetProperty("email")[0].GetString(), StringComparison.Ordinal);
            Assert.True(errors.TryGetProperty("password", out _));
        }

        using (var unknownField = await client.PostRawAsync("/api/v1/auth/register", $"{{\"email\":\"{AuthApi.NewEmail()}\",\"password\":\"{AuthApi.Password}\",\"role\":\"platform-admin\"}}"))
        {
            var problem = await unknownField.AssertProblemAsync(HttpStatusCode.BadRequest, "invalid-json");
            Assert.Contains("role", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using (var malformed = await client.PostRawAsync("/api/v1/auth/register", "{\"email\":"))
        {
            await malformed.AssertProblemAsync(HttpStatusCode.BadRequest, "invalid-json");
        }

        using (var wrongType = await client.PostRawAsync("/api/v1/auth/register", "email=a@b.com", contentType: "application/x-www-form-urlencoded"))
        {
            await wrongType.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported-media-type");
        }

        var email = AuthApi.NewEmail();
        await client.RegisterAsync(email);
        using var duplicate = await client.PostJsonAsync("/api/v1/auth/register", new { email = email.ToUpperInvariant(), password = AuthApi.Password });
        await duplicate.AssertProblemAsync(HttpStatusCode.Conflict, "email-taken");
    }

    private static byte[] Base64UrlDecode(string s) => System.Buffers.Text.Base64Url.DecodeFromChars(s);

    private static string Base64UrlEncode(byte[] bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);
}
