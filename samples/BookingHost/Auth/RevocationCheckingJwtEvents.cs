using BookingHost.Infrastructure;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace BookingHost.Auth;

/// <summary>
/// The JWT bearer events of BookingHost: after a token's signature and lifetime are validated, one <c>EXISTS</c> on
/// the Redis revocation list (<see cref="TokenRevocationList"/>) refuses a signed-out token on every instance; a
/// challenge answers with <c>application/problem+json</c> that says what was wrong with the token.
/// </summary>
public sealed partial class RevocationCheckingJwtEvents(TokenRevocationList revocations, IOptions<JwtOptions> options, ILogger<RevocationCheckingJwtEvents> logger) : JwtBearerEvents
{
    /// <inheritdoc />
    public override async Task TokenValidated(TokenValidatedContext context)
    {
        var tokenId = context.Principal?.FindFirst(BookingClaims.TokenId)?.Value;
        if (string.IsNullOrEmpty(tokenId))
        {
            context.Fail(new SecurityTokenException("The access token has no jti."));
            return;
        }

        try
        {
            if (await revocations.IsRevokedAsync(tokenId, context.HttpContext.RequestAborted))
            {
                AuthInstruments.RevokedTokensRefused.Add(1);
                context.Fail(new AccessTokenRevokedException());
            }
        }
        catch (Exception e) when (BookingRedisConnection.IsUnavailable(e))
        {
            var failClosed = options.Value.FailClosedWhenRevocationUnavailable;
            AuthInstruments.RevocationCheckFailures.Add(1, new KeyValuePair<string, object?>("outcome", failClosed ? "refused" : "accepted"));
            LogRevocationCheckFailed(logger, tokenId, failClosed ? "refused" : "accepted", e);
            if (failClosed)
            {
                context.Fail(new SecurityTokenException("The access token could not be checked against the revocation list.", e));
            }
        }
    }

    /// <inheritdoc />
    public override async Task Challenge(JwtBearerChallengeContext context)
    {
        context.HandleResponse();
        var failure = context.AuthenticateFailure;
        var (code, detail) = failure switch
        {
            null => ("authentication-required", "This endpoint requires a signed-in user: send 'Authorization: Bearer <access token>'."),
            AccessTokenRevokedException => ("token-revoked", "The access token has been revoked (signed out)."),
            SecurityTokenExpiredException => ("token-expired", "The access token has expired: refresh it or sign in again."),
            SecurityTokenInvalidSignatureException or SecurityTokenSignatureKeyNotFoundException => ("token-signature-invalid", "The access token's signature is not valid."),
            _ => ("token-invalid", "The access token is not valid."),
        };
        context.Response.Headers.WWWAuthenticate = failure is null
            ? "Bearer"
            : $"Bearer error=\"invalid_token\", error_description=\"{code}\"";
        await AuthProblems.Problem(StatusCodes.Status401Unauthorized, code, detail).ExecuteAsync(context.HttpContext);
    }

    [LoggerMessage(331, LogLevel.Warning, "Revocation list unavailable: access token {TokenId} {Outcome} without the check")]
    private static partial void LogRevocationCheckFailed(ILogger logger, string tokenId, string outcome, Exception exception);
}
