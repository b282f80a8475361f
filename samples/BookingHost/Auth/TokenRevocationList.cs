using BookingHost.Infrastructure;
using StackExchange.Redis;

namespace BookingHost.Auth;

/// <summary>
/// The access-token revocation list in Redis, shared by every instance: one key per revoked token id (<c>jti</c>)
/// that expires when the token would have (plus the validation clock skew), so the list never outgrows the set of
/// tokens that are still valid.
/// </summary>
public sealed class TokenRevocationList(BookingRedisConnection redis, TimeProvider time)
{
    private const string KeyPrefix = "booking:auth:revoked:";

    // SET with a time to live, refused by Redis past the caller's deadline (a logout answered 503 revokes nothing later).
    private const string RevokeScript = BookingRedisConnection.DeadlineGuard + "redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) return 1";

    /// <summary>The clock skew token validation allows; a revocation outlives the token by this much.</summary>
    internal static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(5);

    /// <summary>Revokes an access token until it expires.</summary>
    /// <param name="tokenId">The token's <c>jti</c>.</param>
    /// <param name="expiresAt">The token's expiry.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when Redis has stored the revocation.</returns>
    /// <exception cref="RedisException">Redis is unavailable.</exception>
    /// <exception cref="TimeoutException">Redis did not answer in time.</exception>
    public async Task RevokeAsync(string tokenId, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(tokenId);
        var ttl = expiresAt - time.GetUtcNow() + ClockSkew;
        if (ttl <= TimeSpan.Zero)
        {
            return; // expired already: validation refuses it anyway
        }

        await redis.WriteAsync(RevokeScript, [KeyPrefix + tokenId], [(long)Math.Ceiling(ttl.TotalMilliseconds)], cancellationToken);
    }

    /// <summary>Whether an access token is revoked (one <c>EXISTS</c>).</summary>
    /// <param name="tokenId">The token's <c>jti</c>.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>Whether it is on the list.</returns>
    /// <exception cref="RedisException">Redis is unavailable.</exception>
    /// <exception cref="TimeoutException">Redis did not answer in time.</exception>
    public Task<bool> IsRevokedAsync(string tokenId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(tokenId);
        return redis.RunAsync(db => db.KeyExistsAsync(KeyPrefix + tokenId), cancellationToken);
    }
}
