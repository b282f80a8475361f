using BookingHost.Infrastructure;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Scaling.Tenancy.Resolution;

namespace BookingHost.Auth;

/// <summary>Registers JWT bearer authentication, the identity store and BookingHost's authorization policies.</summary>
public static class AuthServiceCollectionExtensions
{
    /// <summary>
    /// Adds authentication (JWT bearer, validated with <see cref="JwtOptions"/>, checked against the Redis revocation
    /// list), the users and refresh tokens of the metadata database (<see cref="UserDirectory"/>,
    /// <see cref="RefreshTokenStore"/>, migrations 20–21) and the policies of <see cref="BookingPolicies"/>.
    /// </summary>
    public static IServiceCollection AddBookingAuth(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<JwtOptions>().Bind(configuration.GetSection(JwtOptions.SectionName))
            .Validate(o => o.SigningKey.Length >= 32, "BookingHost:Jwt:SigningKey is required and must be at least 32 characters (every instance uses the same key).")
            .Validate(o => o.AccessTokenLifetime > TimeSpan.Zero && o.AccessTokenLifetime <= TimeSpan.FromHours(1), "BookingHost:Jwt:AccessTokenLifetime must be between 0 and 1 hour.")
            .Validate(o => o.RefreshTokenLifetime > o.AccessTokenLifetime && o.RefreshTokenLifetime <= TimeSpan.FromDays(365), "BookingHost:Jwt:RefreshTokenLifetime must be longer than the access token lifetime and at most 365 days.")
            .Validate(o => o.ValidatedTokenCacheSize is >= 0 and <= 1_000_000, "BookingHost:Jwt:ValidatedTokenCacheSize must be between 0 (off) and 1,000,000.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<AccessTokenIssuer>();
        services.TryAddSingleton<RedisConnections>();
        services.TryAddSingleton<BookingRedisConnection>();
        services.AddSingleton<TokenRevocationList>();
        services.AddSingleton<AuthDatabase>();
        services.TryAddSingleton<IPasswordHasher<BookingUser>, PasswordHasher<BookingUser>>();
        services.AddSingleton(sp => new UserDirectory(
            sp.GetRequiredService<AuthDatabase>(),
            sp.GetRequiredService<IPasswordHasher<BookingUser>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<UserDirectory>>()));
        services.AddSingleton(sp => new RefreshTokenStore(
            sp.GetRequiredService<AuthDatabase>(),
            sp.GetRequiredService<AccessTokenIssuer>(),
            sp.GetRequiredService<TokenRevocationList>(),
            sp.GetRequiredService<IOptions<JwtOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<RefreshTokenStore>>()));
        services.AddSingleton<RevocationCheckingJwtEvents>();
        services.AddBookingMigrations("auth", [], AuthSchema.Migrations());

        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme).Configure<IOptions<JwtOptions>>((bearer, jwt) =>
        {
            bearer.MapInboundClaims = false;
            bearer.TokenValidationParameters = AccessTokenIssuer.ValidationParameters(jwt.Value);

            // JsonWebTokenHandler, keeping each valid token's claims until it expires (lifetime and revocation are still
            // checked on every request).
            bearer.TokenHandlers.Clear();
            bearer.TokenHandlers.Add(new CachingAccessTokenHandler(jwt.Value.ValidatedTokenCacheSize));
            bearer.EventsType = typeof(RevocationCheckingJwtEvents);
        });
        services.AddAuthorizationBuilder()
            .AddPolicy(BookingPolicies.SignedIn, p => p.RequireAuthenticatedUser())
            .AddPolicy(BookingPolicies.BusinessStaff, p => p.RequireClaim(BookingClaims.Role, BookingRoles.Staff, BookingRoles.Owner).RequireAssertion(OfThisBusiness))
            .AddPolicy(BookingPolicies.BusinessOwner, p => p.RequireClaim(BookingClaims.Role, BookingRoles.Owner).RequireAssertion(OfThisBusiness))
            .AddPolicy(BookingPolicies.PlatformAdmin, p => p.RequireClaim(BookingClaims.Role, BookingRoles.PlatformAdmin))
            .AddPolicy(BookingPolicies.UserAdministrator, p => p.RequireClaim(BookingClaims.Role, BookingRoles.PlatformAdmin, BookingRoles.Owner));
        return services;
    }

    /// <summary>Defence in depth behind the resolution middleware's claim check: the user's tenant claim is the request's business.</summary>
    private static bool OfThisBusiness(Microsoft.AspNetCore.Authorization.AuthorizationHandlerContext context)
        => context.Resource is HttpContext http
            && http.GetTenant() is { } tenant
            && string.Equals(context.User.FindFirst(BookingClaims.Tenant)?.Value, tenant.Id.Value, StringComparison.Ordinal);
}
