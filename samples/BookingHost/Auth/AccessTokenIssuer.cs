using System.Security.Claims;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Auth;

/// <summary>An access token and when it expires.</summary>
/// <param name="Token">The signed JWT.</param>
/// <param name="ExpiresAt">Its expiry.</param>
/// <param name="TokenId">Its <c>jti</c>.</param>
public sealed record AccessToken(string Token, DateTimeOffset ExpiresAt, string TokenId);

/// <summary>
/// Issues signed short-lived access tokens (HMAC-SHA256). A staff member's or owner's token carries their business's
/// plan (from the shard map) unless the user has a plan of their own, so rate limits follow the tenant's plan.
/// </summary>
public sealed class AccessTokenIssuer(IOptions<JwtOptions> options, TimeProvider time, ShardMap map)
{
    private readonly JsonWebTokenHandler _handler = new();

    /// <summary>Issues an access token for a user.</summary>
    /// <param name="userId">The user's id.</param>
    /// <param name="role">The user's role (<see cref="BookingRoles"/>).</param>
    /// <param name="tenant">The business of a staff member or owner; <see langword="null"/> otherwise.</param>
    /// <param name="plan">The rate-limit plan (<c>premium</c>) or <see langword="null"/>.</param>
    /// <returns>The token.</returns>
    public AccessToken Issue(Guid userId, string role, string? tenant, string? plan = null)
    {
        var o = options.Value;
        if (plan is null && tenant is not null && TenantId.TryParse(tenant, out var business) && map.TryGetTenant(business, out var placement))
        {
            plan = placement.Plan;
        }

        var now = time.GetUtcNow();
        var expires = now + o.AccessTokenLifetime;
        var jti = Guid.NewGuid().ToString("N");
        var claims = new Dictionary<string, object>
        {
            [BookingClaims.UserId] = userId.ToString(),
            [BookingClaims.Role] = role,
            [BookingClaims.TokenId] = jti,
        };
        if (tenant is not null)
        {
            claims[BookingClaims.Tenant] = tenant;
        }

        if (plan is not null)
        {
            claims[BookingClaims.Plan] = plan;
        }

        var token = _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = o.Issuer,
            Audience = o.Issuer,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            Claims = claims,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(o.KeyBytes), SecurityAlgorithms.HmacSha256),
        });
        return new AccessToken(token, expires, jti);
    }

    /// <summary>The validation parameters matching <see cref="Issue"/>.</summary>
    internal static TokenValidationParameters ValidationParameters(JwtOptions o) => new()
    {
        ValidIssuer = o.Issuer,
        ValidAudience = o.Issuer,
        IssuerSigningKey = new SymmetricSecurityKey(o.KeyBytes),
        ClockSkew = TokenRevocationList.ClockSkew,
        NameClaimType = BookingClaims.UserId,
        RoleClaimType = BookingClaims.Role,
    };
}

/// <summary>Reads the signed-in user from a request.</summary>
public static class BookingUserExtensions
{
    /// <summary>The user's id, or <see langword="null"/> when anonymous.</summary>
    public static Guid? GetUserId(this ClaimsPrincipal user)
        => Guid.TryParse(user.FindFirst(BookingClaims.UserId)?.Value, out var id) ? id : null;

    /// <summary>The user's role, or <see langword="null"/> when anonymous.</summary>
    public static string? GetRole(this ClaimsPrincipal user) => user.FindFirst(BookingClaims.Role)?.Value;

    /// <summary>Whether the user is staff or owner (of the request's business: the resolution middleware refused other businesses' staff).</summary>
    public static bool IsBusinessStaff(this ClaimsPrincipal user) => user.GetRole() is BookingRoles.Staff or BookingRoles.Owner;
}
