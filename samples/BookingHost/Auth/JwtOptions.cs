using System.Text;

namespace BookingHost.Auth;

/// <summary>Token settings (configuration section <c>BookingHost:Jwt</c>).</summary>
public sealed class JwtOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "BookingHost:Jwt";

    /// <summary>Gets or sets the HMAC-SHA256 signing key (at least 32 characters; every instance uses the same one). Required.</summary>
    public string SigningKey { get; set; } = string.Empty;

    /// <summary>Gets or sets the issuer and audience of the tokens.</summary>
    public string Issuer { get; set; } = "bookinghost";

    /// <summary>Gets or sets the lifetime of access tokens (short: revocation only needs to outlive it).</summary>
    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets the lifetime of refresh tokens.</summary>
    public TimeSpan RefreshTokenLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// Gets or sets whether a request with a valid access token is refused (401) when the revocation list cannot be
    /// consulted (Redis down or slow). Default <see langword="false"/>: fail open, with a warning log and the
    /// <c>booking.auth.revocation_check_failures</c> metric, because access tokens are short-lived (a revoked token
    /// stays usable at most <see cref="AccessTokenLifetime"/>) while failing closed turns a Redis outage into an outage
    /// of every authenticated endpoint on every instance.
    /// </summary>
    public bool FailClosedWhenRevocationUnavailable { get; set; }

    /// <summary>
    /// Gets or sets how many validated access tokens each instance keeps (default 10,000; 0 turns it off), so that a
    /// client's next requests with the same token are not parsed, signature-checked and turned into claims again. The
    /// lifetime and the revocation list are still checked on every request (see <c>CachingAccessTokenHandler</c>). Each
    /// kept token holds its text, its parsed form and its claims until it expires: about 6 KB (5.3 KB measured without
    /// the text), so about 60 MB for a full cache at the default size.
    /// </summary>
    public int ValidatedTokenCacheSize { get; set; } = 10_000;

    internal byte[] KeyBytes => Encoding.UTF8.GetBytes(SigningKey);
}
