using System.Diagnostics.Metrics;

namespace BookingHost.Auth;

/// <summary>The auth area's metrics (meter <c>BookingHost.Auth</c>).</summary>
public static class AuthInstruments
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "BookingHost.Auth";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>Access tokens refused because they are on the revocation list.</summary>
    public static readonly Counter<long> RevokedTokensRefused = Meter.CreateCounter<long>("booking.auth.revoked_tokens_refused", description: "Access tokens refused because they were revoked");

    /// <summary>Revocation checks that could not reach Redis (the token was accepted: fail-open, or refused: fail-closed).</summary>
    public static readonly Counter<long> RevocationCheckFailures = Meter.CreateCounter<long>("booking.auth.revocation_check_failures", description: "Revocation checks that could not reach Redis");

    /// <summary>Reuses of an already rotated refresh token (each revoked a token family).</summary>
    public static readonly Counter<long> RefreshReuses = Meter.CreateCounter<long>("booking.auth.refresh_reuses", description: "Rotated refresh tokens presented again (family revoked)");

    /// <summary>Failed logins (unknown e-mail or wrong password).</summary>
    public static readonly Counter<long> LoginFailures = Meter.CreateCounter<long>("booking.auth.login_failures", description: "Failed logins");
}
