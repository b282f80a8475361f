using System.Collections.Concurrent;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace BookingHost.Auth;

/// <summary>
/// The bearer scheme's token handler: <see cref="JsonWebTokenHandler"/>, which keeps what it found for each valid access
/// token (keyed by the token's exact text) until the token expires, so that a client's next requests with the same token
/// skip reading it, checking its signature, issuer and audience, and building its claims. What depends on the moment is
/// checked again on every request: the token's lifetime, by the same validator (a token past its expiry plus the clock
/// skew is handed to <see cref="JsonWebTokenHandler"/> again, which refuses it as before), and the revocation list
/// (<see cref="RevocationCheckingJwtEvents"/>, after this handler). A result is reused only for the same signing key,
/// issuer and audience it was validated with. Only valid tokens are kept, so a flood of forged tokens cannot fill it;
/// each request gets its own copy of the claims.
/// </summary>
internal sealed class CachingAccessTokenHandler : TokenHandler
{
    private readonly JsonWebTokenHandler _inner = new() { MapInboundClaims = false };
    private readonly ConcurrentDictionary<string, Validated> _validated = new(StringComparer.Ordinal);
    private readonly int _capacity;
    private int _count;
    private long _nextSweep;

    /// <summary>Creates the handler.</summary>
    /// <param name="capacity">How many validated tokens to keep at most (0: none; every token is validated in full).</param>
    public CachingAccessTokenHandler(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        _capacity = capacity;
    }

    /// <summary>How many validated tokens are kept now.</summary>
    internal int Count => Volatile.Read(ref _count);

    /// <inheritdoc />
    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        ArgumentNullException.ThrowIfNull(validationParameters);
        if (token is not null && _validated.TryGetValue(token, out var kept))
        {
            if (kept.IsFor(validationParameters) && kept.StillInLifetime(validationParameters))
            {
                return new TokenValidationResult
                {
                    IsValid = true,
                    SecurityToken = kept.Token,
                    ClaimsIdentity = kept.Identity.Clone(),
                    Issuer = kept.Issuer,
                    TokenType = kept.TokenType,
                };
            }

            Forget(token, kept);
        }

        var result = await _inner.ValidateTokenAsync(token, validationParameters).ConfigureAwait(false);
        if (token is not null && _capacity > 0 && result.IsValid && result.SecurityToken is JsonWebToken validated && Validated.CanKeepFor(validationParameters))
        {
            Keep(token, new Validated(validated, result.ClaimsIdentity.Clone(), result.Issuer, result.TokenType, validationParameters));
        }

        return result;
    }

    private void Keep(string token, Validated validated)
    {
        if (Volatile.Read(ref _count) >= _capacity)
        {
            ForgetExpired();
            if (Volatile.Read(ref _count) >= _capacity)
            {
                return; // full of live tokens: this one is validated in full each time
            }
        }

        if (_validated.TryAdd(token, validated))
        {
            Interlocked.Increment(ref _count);
        }
    }

    private void Forget(string token, Validated kept)
    {
        if (_validated.TryRemove(new KeyValuePair<string, Validated>(token, kept)))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    /// <summary>Drops the expired tokens; at most once a second, so that a cache full of live tokens is not walked for every new one.</summary>
    private void ForgetExpired()
    {
        var now = DateTime.UtcNow;
        var next = Volatile.Read(ref _nextSweep);
        if (now.Ticks < next || Interlocked.CompareExchange(ref _nextSweep, now.Ticks + TimeSpan.TicksPerSecond, next) != next)
        {
            return;
        }

        foreach (var (token, kept) in _validated)
        {
            if (kept.Expires < now - kept.ClockSkew)
            {
                Forget(token, kept);
            }
        }
    }

    /// <summary>A valid token, what its validation found, and what it was validated against.</summary>
    private sealed class Validated(JsonWebToken token, System.Security.Claims.ClaimsIdentity identity, string? issuer, string? tokenType, TokenValidationParameters parameters)
    {
        private readonly SecurityKey? _signingKey = parameters.IssuerSigningKey;
        private readonly string? _validIssuer = parameters.ValidIssuer;
        private readonly string? _validAudience = parameters.ValidAudience;

        // The token's lifetime, read from its payload once (as JsonWebTokenHandler reads it: absent claims are null).
        private readonly DateTime? _notBefore = token.TryGetPayloadValue<long>(JwtRegisteredClaimNames.Nbf, out _) ? token.ValidFrom : null;
        private readonly DateTime? _expires = token.TryGetPayloadValue<long>(JwtRegisteredClaimNames.Exp, out _) ? token.ValidTo : null;

        public JsonWebToken Token { get; } = token;

        public System.Security.Claims.ClaimsIdentity Identity { get; } = identity;

        public string? Issuer { get; } = issuer;

        public string? TokenType { get; } = tokenType;

        public TimeSpan ClockSkew { get; } = parameters.ClockSkew;

        /// <summary>When the token expires (<see cref="DateTime.MaxValue"/> when it has no <c>exp</c>).</summary>
        public DateTime Expires => _expires ?? DateTime.MaxValue;

        /// <summary>The lifetime check <see cref="JsonWebTokenHandler"/> makes, made again for the kept token (false when it fails).</summary>
        public bool StillInLifetime(TokenValidationParameters parameters)
        {
            try
            {
                Validators.ValidateLifetime(_notBefore, _expires, Token, parameters);
                return true;
            }
            catch (SecurityTokenValidationException)
            {
                return false; // validated in full again, which produces the failure exactly as before
            }
        }

        /// <summary>
        /// Whether a result validated with <paramref name="parameters"/> may be kept: parameters as
        /// <see cref="AccessTokenIssuer.ValidationParameters"/> makes them (one signing key, issuer and audience), with
        /// no key resolver or list of keys, issuers or audiences, which <see cref="IsFor"/> does not compare.
        /// </summary>
        public static bool CanKeepFor(TokenValidationParameters parameters)
            => parameters.IssuerSigningKey is not null
                && parameters.IssuerSigningKeyResolver is null
                && parameters.IssuerSigningKeys is null
                && parameters.ValidIssuers is null
                && parameters.ValidAudiences is null;

        /// <summary>
        /// Whether <paramref name="parameters"/> validate as the kept result's did: the same signing key object (a key
        /// read again from changed settings is another object), issuer, audience and clock skew.
        /// </summary>
        public bool IsFor(TokenValidationParameters parameters)
            => ReferenceEquals(parameters.IssuerSigningKey, _signingKey)
                && string.Equals(parameters.ValidIssuer, _validIssuer, StringComparison.Ordinal)
                && string.Equals(parameters.ValidAudience, _validAudience, StringComparison.Ordinal)
                && parameters.ClockSkew == ClockSkew
                && CanKeepFor(parameters);
    }
}
