using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using BookingHost.Auth;
using Microsoft.Extensions.DependencyInjection;

namespace BookingHost.Tests.Auth;

/// <summary>Calls of the auth endpoints for tests, with the raw responses.</summary>
internal static class AuthApi
{
    public const string Password = "correct horse battery";

    public static string NewEmail(string prefix = "user") => $"{prefix}-{Guid.NewGuid():N}@example.com";

    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string path, object body, string? idempotencyKey = null)
        => client.PostRawAsync(path, JsonSerializer.Serialize(body), idempotencyKey);

    public static async Task<HttpResponseMessage> PostRawAsync(this HttpClient client, string path, string json, string? idempotencyKey = null, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative))
        {
            Content = new StringContent(json, Encoding.UTF8, contentType),
        };
        if (idempotencyKey is not null)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
        }

        return await client.SendAsync(request);
    }

    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response)
        => JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

    /// <summary>Asserts a problem+json response with the status and code.</summary>
    public static async Task<JsonElement> AssertProblemAsync(this HttpResponseMessage response, HttpStatusCode status, string? code = null)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"Expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
        if (code is not null)
        {
            Assert.Equal(code, problem.GetProperty("code").GetString());
        }

        return problem;
    }

    public static async Task<Guid> RegisterAsync(this HttpClient client, string email, string password = Password)
    {
        using var response = await client.PostJsonAsync("/api/v1/auth/register", new { email, password });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    public static async Task<Tokens> LoginAsync(this HttpClient client, string email, string password = Password)
    {
        using var response = await client.PostJsonAsync("/api/v1/auth/login", new { email, password });
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return Tokens.From(await response.JsonAsync());
    }

    public static async Task<HttpResponseMessage> GetAsync(this HttpClient client, string path, string? accessToken, string? tenant = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        if (accessToken is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        }

        if (tenant is not null)
        {
            request.Headers.Add("X-Tenant", tenant);
        }

        return await client.SendAsync(request);
    }

    public static async Task<HttpResponseMessage> SendAsync(this HttpClient client, HttpMethod method, string path, string? accessToken, object? body = null, string? tenant = null, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (body is not null)
        {
            request.Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        }

        if (accessToken is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        }

        if (tenant is not null)
        {
            request.Headers.Add("X-Tenant", tenant);
        }

        if (idempotencyKey is not null)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
        }

        return await client.SendAsync(request);
    }

    /// <summary>
    /// Registers on <paramref name="revoking"/>, signs in on <paramref name="checking"/> (the token works there), logs out on
    /// <paramref name="revoking"/>, and asserts that <paramref name="checking"/> now refuses the token as revoked: the
    /// revocation list is shared.
    /// </summary>
    public static async Task AssertRevocationReachesAsync(BookingApp revoking, BookingApp checking)
    {
        using var a = revoking.CreateClient();
        using var b = checking.CreateClient();
        var email = NewEmail();
        await a.RegisterAsync(email);
        var tokens = await b.LoginAsync(email);
        using (var before = await b.GetAsync("/api/v1/auth/me", tokens.AccessToken))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        using (var logout = await a.SendAsync(HttpMethod.Post, "/api/v1/auth/logout", tokens.AccessToken))
        {
            Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        }

        using var after = await b.GetAsync("/api/v1/auth/me", tokens.AccessToken);
        await after.AssertProblemAsync(HttpStatusCode.Unauthorized, "token-revoked");
    }

    /// <summary>Creates a user directly through the directory (as a seeder would) and signs them in.</summary>
    public static async Task<(BookingUser User, Tokens Tokens)> CreateAndLoginAsync(this BookingApp app, string role, string? tenant = null)
    {
        var user = await app.Services.GetRequiredService<UserDirectory>().CreateUserAsync(NewEmail(role), Password, role, tenant, null, CancellationToken.None);
        using var client = app.CreateClient();
        return (user, await client.LoginAsync(user.Email));
    }
}

internal sealed record Tokens(string AccessToken, DateTimeOffset ExpiresAt, string RefreshToken, DateTimeOffset RefreshExpiresAt)
{
    public static Tokens From(JsonElement json) => new(
        json.GetProperty("accessToken").GetString()!,
        json.GetProperty("expiresAt").GetDateTimeOffset(),
        json.GetProperty("refreshToken").GetString()!,
        json.GetProperty("refreshExpiresAt").GetDateTimeOffset());
}
