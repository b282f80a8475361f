using System.Security.Claims;
using System.Text;
using BookingHost.Auth;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace BookingHost.Tests.Auth;

/// <summary>
/// The bearer scheme's token handler keeps valid tokens' claims, and still refuses what a full validation refuses. The
/// end-to-end cases (a used token revoked, then refused; a used token expired, then refused as expired) are in
/// <see cref="AuthFlowTests"/>, where every request goes through this handler.
/// </summary>
public sealed class CachingAccessTokenHandlerTests
{
    private const string Issuer = "bookinghost-test";

    [Fact]
    public async Task A_valid_token_is_kept_and_each_request_gets_its_own_copy_of_the_same_claims()
    {
        var key = Key("a");
        var handler = new CachingAccessTokenHandler(100);
        var token = Issue(key, TimeSpan.FromMinutes(5));

        var first = await handler.ValidateTokenAsync(token, Parameters(key));
        Assert.True(first.IsValid, first.Exception?.Message);
        Assert.Equal(1, handler.Count);
        first.ClaimsIdentity.AddClaim(new Claim("role", "owner")); // what one request does to its identity stays there

        var second = await handler.ValidateTokenAsync(token, Parameters(key));
        Assert.True(second.IsValid);
        Assert.NotSame(first.ClaimsIdentity, second.ClaimsIdentity);
        Assert.Equal(first.ClaimsIdentity.GetType(), second.ClaimsIdentity.GetType());
        Assert.Equal(["customer"], second.ClaimsIdentity.FindAll("role").Select(c => c.Value));
        Assert.Equal("user-1", second.ClaimsIdentity.FindFirst("sub")?.Value);
        Assert.Equal("user-1", second.ClaimsIdentity.Name);
        Assert.Same(first.SecurityToken, second.SecurityToken);
        Assert.Equal(1, handler.Count);
    }

    [Fact]
    public async Task A_kept_token_is_refused_as_expired_once_its_lifetime_is_over()
    {
        var (handler, key, token) = await KeptAsync(TimeSpan.FromSeconds(2), TimeSpan.Zero);

        await Task.Delay(TimeSpan.FromSeconds(3));

        var expired = await handler.ValidateTokenAsync(token, Parameters(key, TimeSpan.Zero));
        Assert.False(expired.IsValid);
        Assert.IsType<SecurityTokenExpiredException>(expired.Exception);
        Assert.Equal(0, handler.Count);
    }

    [Fact]
    public async Task A_kept_token_is_validated_in_full_against_another_signing_key()
    {
        var (handler, key, token) = await KeptAsync(TimeSpan.FromMinutes(5), null);

        // The signing key changed (another key object, as when the settings are read again): the kept result does not count.
        var otherKey = await handler.ValidateTokenAsync(token, Parameters(Key("b")));
        Assert.False(otherKey.IsValid);
        Assert.IsAssignableFrom<SecurityTokenInvalidSignatureException>(otherKey.Exception);

        Assert.True((await handler.ValidateTokenAsync(token, Parameters(key))).IsValid);
        var otherIssuer = Parameters(key);
        otherIssuer.ValidIssuer = "someone-else";
        var refused = await handler.ValidateTokenAsync(token, otherIssuer);
        Assert.False(refused.IsValid);
        Assert.IsType<SecurityTokenInvalidIssuerException>(refused.Exception);
    }

    [Fact]
    public async Task Invalid_tokens_are_never_kept_and_a_size_of_zero_keeps_nothing()
    {
        var key = Key("a");
        var handler = new CachingAccessTokenHandler(100);
        var token = Issue(key, TimeSpan.FromMinutes(5));
        var tampered = token[..^4] + (token[^4] == 'A' ? "BBBB" : "AAAA");
        for (var i = 0; i < 3; i++)
        {
            Assert.False((await handler.ValidateTokenAsync(tampered, Parameters(key))).IsValid);
            Assert.False((await handler.ValidateTokenAsync("not-a-token", Parameters(key))).IsValid);
        }

        Assert.Equal(0, handler.Count);

        var off = new CachingAccessTokenHandler(0);
        Assert.True((await off.ValidateTokenAsync(token, Parameters(key))).IsValid);
        Assert.True((await off.ValidateTokenAsync(token, Parameters(key))).IsValid);
        Assert.Equal(0, off.Count);
    }

    [Fact]
    public async Task A_full_cache_keeps_no_more_and_still_validates()
    {
        var key = Key("a");
        var handler = new CachingAccessTokenHandler(2);
        var tokens = Enumerable.Range(0, 4).Select(_ => Issue(key, TimeSpan.FromMinutes(5))).ToArray();
        foreach (var token in tokens)
        {
            Assert.True((await handler.ValidateTokenAsync(token, Parameters(key))).IsValid);
        }

        Assert.Equal(2, handler.Count);
        Assert.True((await handler.ValidateTokenAsync(tokens[3], Parameters(key))).IsValid);
    }

    /// <summary>A handler that has kept one valid token, with its key and the token.</summary>
    private static async Task<(CachingAccessTokenHandler Handler, SecurityKey Key, string Token)> KeptAsync(TimeSpan lifetime, TimeSpan? clockSkew)
    {
        var key = Key("a");
        var handler = new CachingAccessTokenHandler(100);
        var token = Issue(key, lifetime);
        Assert.True((await handler.ValidateTokenAsync(token, Parameters(key, clockSkew))).IsValid);
        Assert.Equal(1, handler.Count);
        return (handler, key, token);
    }

    private static SymmetricSecurityKey Key(string seed) => new(Encoding.UTF8.GetBytes(new string(seed[0], 40)));

    private static TokenValidationParameters Parameters(SecurityKey key, TimeSpan? clockSkew = null) => new()
    {
        ValidIssuer = Issuer,
        ValidAudience = Issuer,
        IssuerSigningKey = key,
        ClockSkew = clockSkew ?? TimeSpan.FromSeconds(5),
        NameClaimType = "sub",
        RoleClaimType = "role",
    };

    private static string Issue(SecurityKey key, TimeSpan lifetime)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Issuer,
            IssuedAt = now,
            NotBefore = now,
            Expires = now + lifetime,
            Claims = new Dictionary<string, object> { ["sub"] = "user-1", ["role"] = "customer", ["jti"] = Guid.NewGuid().ToString("N") },
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        });
    }
}
