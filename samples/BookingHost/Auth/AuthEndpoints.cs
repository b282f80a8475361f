using System.Globalization;
using System.Security.Claims;
using BookingHost.Idempotency;
using BookingHost.Infrastructure;
using Scaling.Tenancy;

namespace BookingHost.Auth;

/// <summary>
/// The auth endpoints under <c>/api/v1/auth</c>: register, login, refresh, logout, me, and account creation by
/// platform admins and owners. Every error is <c>application/problem+json</c> with a stable <c>code</c>.
/// </summary>
public static partial class AuthEndpoints
{
    /// <summary>Maps <c>/auth/...</c>.</summary>
    /// <param name="endpoints">The <c>/api/v1</c> group.</param>
    /// <returns>The builder.</returns>
    public static IEndpointRouteBuilder MapBookingAuth(this IEndpointRouteBuilder endpoints)
    {
        var auth = endpoints.MapGroup("/auth").WithTags("Auth");
        auth.MapPost("/register", RegisterAsync).AllowAnonymous().WithIdempotency()
            .WithSummary("Creates a customer account.");
        auth.MapPost("/login", LoginAsync).AllowAnonymous()
            .WithSummary("Signs in: an access token and a refresh token.");
        auth.MapPost("/refresh", RefreshAsync).AllowAnonymous()
            .WithSummary("Rotates a refresh token: a new pair; the old refresh token is used up.");
        auth.MapPost("/logout", LogoutAsync).RequireAuthorization(BookingPolicies.SignedIn)
            .WithSummary("Revokes the current access token (on every instance) and, when given, the refresh token's family.");
        auth.MapGet("/me", Me).RequireAuthorization(BookingPolicies.SignedIn)
            .WithSummary("The signed-in user as the access token describes them.");
        auth.MapPost("/users", CreateUserAsync).RequireAuthorization(BookingPolicies.UserAdministrator).WithIdempotency()
            .WithSummary("Creates an account: platform admins any role; owners staff of their own business.");
        return endpoints;
    }

    private static async Task<IResult> RegisterAsync(HttpRequest request, UserDirectory users, CancellationToken cancellationToken)
    {
        var (body, problem) = await JsonBody.ReadAsync<RegisterRequest>(request, cancellationToken);
        if (body is null)
        {
            return problem!;
        }

        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (AccountValidation.CheckEmail(body.Email, out var email) is { } emailError)
        {
            errors["email"] = [emailError];
        }

        if (AccountValidation.CheckPassword(body.Password) is { } passwordError)
        {
            errors["password"] = [passwordError];
        }

        if (errors.Count > 0)
        {
            return AuthProblems.Validation(errors);
        }

        try
        {
            var user = await users.CreateUserAsync(email, body.Password!, BookingRoles.Customer, null, null, cancellationToken);
            return Results.Json(UserResponse.From(user), statusCode: StatusCodes.Status201Created);
        }
        catch (DuplicateEmailException)
        {
            return AuthProblems.Problem(StatusCodes.Status409Conflict, "email-taken", "An account with this e-mail address exists already.");
        }
    }

    private static async Task<IResult> LoginAsync(HttpRequest request, UserDirectory users, RefreshTokenStore tokens, CancellationToken cancellationToken)
    {
        var (body, problem) = await JsonBody.ReadAsync<LoginRequest>(request, cancellationToken);
        if (body is null)
        {
            return problem!;
        }

        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(body.Email))
        {
            errors["email"] = ["The e-mail address is required."];
        }

        if (string.IsNullOrEmpty(body.Password))
        {
            errors["password"] = ["The password is required."];
        }

        if (errors.Count > 0)
        {
            return AuthProblems.Validation(errors);
        }

        // Over-long input cannot match (accounts are created with the same limits); never hash it.
        var user = body.Email!.Length <= AccountValidation.MaxEmailLength + 2 && body.Password!.Length <= AccountValidation.MaxPasswordLength
            ? await users.VerifyCredentialsAsync(body.Email, body.Password, cancellationToken)
            : null;
        if (user is null)
        {
            AuthInstruments.LoginFailures.Add(1);
            return AuthProblems.Problem(StatusCodes.Status401Unauthorized, "invalid-credentials", "The e-mail address or the password is wrong.");
        }

        var pair = await tokens.IssueAsync(user, cancellationToken);
        return Results.Json(TokenResponse.From(pair));
    }

    private static async Task<IResult> RefreshAsync(HttpRequest request, RefreshTokenStore tokens, CancellationToken cancellationToken)
    {
        var (body, problem) = await JsonBody.ReadAsync<RefreshRequest>(request, cancellationToken);
        if (body is null)
        {
            return problem!;
        }

        if (string.IsNullOrEmpty(body.RefreshToken))
        {
            return AuthProblems.Validation(new(StringComparer.Ordinal) { ["refreshToken"] = ["The refresh token is required."] });
        }

        var (outcome, pair) = await tokens.RotateAsync(body.RefreshToken, cancellationToken);
        return outcome switch
        {
            RefreshOutcome.Rotated => Results.Json(TokenResponse.From(pair!)),
            RefreshOutcome.Expired => AuthProblems.Problem(StatusCodes.Status401Unauthorized, "refresh-expired", "The refresh token has expired: sign in again."),
            RefreshOutcome.Revoked => AuthProblems.Problem(StatusCodes.Status401Unauthorized, "refresh-revoked", "The refresh token has been revoked: sign in again."),
            RefreshOutcome.Reused => AuthProblems.Problem(StatusCodes.Status401Unauthorized, "refresh-reused", "The refresh token was used already; every token of this sign-in has been revoked: sign in again."),
            _ => AuthProblems.Problem(StatusCodes.Status401Unauthorized, "refresh-invalid", "The refresh token is not valid: sign in again."),
        };
    }

    private static async Task<IResult> LogoutAsync(HttpContext http, TokenRevocationList revocations, RefreshTokenStore tokens, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        string? refreshToken = null;
        if (http.Request.ContentLength is > 0 || http.Request.Headers.TransferEncoding.Count > 0)
        {
            var (body, problem) = await JsonBody.ReadAsync<RefreshRequest>(http.Request, cancellationToken);
            if (body is null)
            {
                return problem!;
            }

            refreshToken = body.RefreshToken;
        }

        var user = http.User;
        var userId = user.GetUserId();
        var tokenId = user.FindFirst(BookingClaims.TokenId)?.Value;
        if (userId is null || string.IsNullOrEmpty(tokenId) || !long.TryParse(user.FindFirst("exp")?.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var exp))
        {
            return AuthProblems.Problem(StatusCodes.Status401Unauthorized, "token-incomplete", "The access token lacks sub, jti or exp.");
        }

        try
        {
            await revocations.RevokeAsync(tokenId, DateTimeOffset.FromUnixTimeSeconds(exp), cancellationToken);
        }
        catch (Exception e) when (BookingRedisConnection.IsUnavailable(e))
        {
            LogLogoutUnavailable(loggers.CreateLogger(typeof(AuthEndpoints)), userId.Value, e);
            http.Response.Headers.RetryAfter = "1";
            return AuthProblems.Problem(StatusCodes.Status503ServiceUnavailable, "revocation-unavailable", "The sign-out could not be recorded (the revocation list is unavailable); nothing was revoked. Retry.");
        }

        if (!string.IsNullOrEmpty(refreshToken))
        {
            await tokens.RevokeFamilyAsync(refreshToken, userId.Value, cancellationToken);
        }

        return Results.NoContent();
    }

    private static IResult Me(ClaimsPrincipal user) => Results.Json(new MeResponse(
        user.GetUserId() ?? Guid.Empty,
        user.GetRole(),
        user.FindFirst(BookingClaims.Tenant)?.Value,
        user.FindFirst(BookingClaims.Plan)?.Value,
        user.FindFirst(BookingClaims.TokenId)?.Value));

    private static async Task<IResult> CreateUserAsync(HttpContext http, UserDirectory users, ITenantLookup tenants, CancellationToken cancellationToken)
    {
        var (body, problem) = await JsonBody.ReadAsync<CreateUserRequest>(http.Request, cancellationToken);
        if (body is null)
        {
            return problem!;
        }

        var caller = http.User;
        if (caller.GetRole() == BookingRoles.Owner)
        {
            var own = caller.FindFirst(BookingClaims.Tenant)?.Value;
            body.Tenant ??= own;
            if (body.Role != BookingRoles.Staff)
            {
                return AuthProblems.Problem(StatusCodes.Status403Forbidden, "owner-creates-staff-only", "An owner can create staff accounts only (role 'staff').");
            }

            if (!string.Equals(body.Tenant, own, StringComparison.Ordinal))
            {
                return AuthProblems.Problem(StatusCodes.Status403Forbidden, "other-business", "An owner can create staff of their own business only.");
            }

            if (body.Plan is not null)
            {
                return AuthProblems.Problem(StatusCodes.Status403Forbidden, "plan-admin-only", "Only platform admins set plans.");
            }
        }

        var errors = AccountValidation.CheckRole(body.Role, body.Tenant, body.Plan);
        if (AccountValidation.CheckEmail(body.Email, out var email) is { } emailError)
        {
            errors["email"] = [emailError];
        }

        if (AccountValidation.CheckPassword(body.Password) is { } passwordError)
        {
            errors["password"] = [passwordError];
        }

        if (!errors.ContainsKey("tenant") && body.Tenant is not null && await tenants.FindAsync(TenantId.Parse(body.Tenant), cancellationToken) is null)
        {
            errors["tenant"] = ["No business with this id exists."];
        }

        if (errors.Count > 0)
        {
            return AuthProblems.Validation(errors);
        }

        try
        {
            var user = await users.CreateUserAsync(email, body.Password!, body.Role!, body.Tenant, body.Plan, cancellationToken);
            return Results.Json(UserResponse.From(user), statusCode: StatusCodes.Status201Created);
        }
        catch (DuplicateEmailException)
        {
            return AuthProblems.Problem(StatusCodes.Status409Conflict, "email-taken", "An account with this e-mail address exists already.");
        }
    }

    [LoggerMessage(321, LogLevel.Warning, "Sign-out of user {UserId} refused: the revocation list (Redis) is unavailable")]
    private static partial void LogLogoutUnavailable(ILogger logger, Guid userId, Exception exception);
}
