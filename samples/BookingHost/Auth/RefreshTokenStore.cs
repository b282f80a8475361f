using System.Buffers.Text;
using System.Security.Cryptography;
using BookingHost.Infrastructure;
using Microsoft.Extensions.Options;
using Npgsql;

namespace BookingHost.Auth;

/// <summary>A refresh token as handed to the client, and when it expires.</summary>
/// <param name="Token">The opaque token (43 base64url characters: 32 random bytes).</param>
/// <param name="ExpiresAt">Its expiry.</param>
public sealed record RefreshToken(string Token, DateTimeOffset ExpiresAt);

/// <summary>An access token and the refresh token issued with it.</summary>
/// <param name="User">The user they were issued to.</param>
/// <param name="Access">The access token.</param>
/// <param name="Refresh">The refresh token.</param>
public sealed record TokenPair(BookingUser User, AccessToken Access, RefreshToken Refresh);

/// <summary>What presenting a refresh token did.</summary>
public enum RefreshOutcome
{
    /// <summary>The token was rotated: the pair holds a new access and refresh token.</summary>
    Rotated,

    /// <summary>No such token (or not a well-formed one).</summary>
    Invalid,

    /// <summary>The token has expired.</summary>
    Expired,

    /// <summary>The token was revoked (logout, or its family was revoked).</summary>
    Revoked,

    /// <summary>The token had been rotated already: someone replayed it, so its whole family is now revoked.</summary>
    Reused,
}

/// <summary>
/// Refresh tokens (table <c>booking_refresh_tokens</c> in the metadata database): only their SHA-256 is stored;
/// each is single use (rotated on refresh, the new one in the same family); a rotated token presented again means
/// it was stolen or replayed, and revokes the whole family together with the access tokens issued with it.
/// </summary>
public sealed partial class RefreshTokenStore
{
    private readonly AuthDatabase _database;
    private readonly AccessTokenIssuer _issuer;
    private readonly TokenRevocationList _revocations;
    private readonly IOptions<JwtOptions> _options;
    private readonly TimeProvider _time;
    private readonly ILogger<RefreshTokenStore> _logger;

    internal RefreshTokenStore(AuthDatabase database, AccessTokenIssuer issuer, TokenRevocationList revocations, IOptions<JwtOptions> options, TimeProvider time, ILogger<RefreshTokenStore> logger)
    {
        _database = database;
        _issuer = issuer;
        _revocations = revocations;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Signs a user in: a new access token and a refresh token that starts a new family.</summary>
    /// <param name="user">The user.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The pair.</returns>
    public async Task<TokenPair> IssueAsync(BookingUser user, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(user);
        return await _database.RunAsync((connection, ct) => InsertAsync(connection, null, user, Guid.CreateVersion7(), Guid.CreateVersion7(), ct), cancellationToken);
    }

    /// <summary>Rotates a refresh token: marks it used and issues a new pair in its family.</summary>
    /// <param name="token">The refresh token the client presented.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The outcome, and the new pair when <see cref="RefreshOutcome.Rotated"/>.</returns>
    public async Task<(RefreshOutcome Outcome, TokenPair? Pair)> RotateAsync(string token, CancellationToken cancellationToken)
    {
        if (Hash(token) is not { } hash)
        {
            return (RefreshOutcome.Invalid, null);
        }

        var now = _time.GetUtcNow();
        var newId = Guid.CreateVersion7();
        return await _database.RunAsync<(RefreshOutcome Outcome, TokenPair? Pair)>(async (connection, ct) =>
        {
            await using (var tx = await connection.BeginTransactionAsync(ct))
            {
                // The row lock makes a concurrent second presentation wait and then find the token used (reuse).
                await using var use = new NpgsqlCommand(
                    """
                    WITH used AS (
                        UPDATE booking_refresh_tokens SET revoked_at = $2, replaced_by = $3
                        WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2
                        RETURNING family_id, user_id)
                    SELECT used.family_id, u.id, u.email, u.role, u.tenant_id, u.plan, u.created_at
                    FROM used JOIN booking_users u ON u.id = used.user_id
                    """,
                    connection,
                    tx);
                use.Parameters.Add(new() { Value = hash });
                use.Parameters.Add(new() { Value = now });
                use.Parameters.Add(new() { Value = newId });
                Guid? family = null;
                BookingUser? user = null;
                await using (var reader = await use.ExecuteReaderAsync(ct))
                {
                    if (await reader.ReadAsync(ct))
                    {
                        family = reader.GetGuid(0);
                        user = new BookingUser(
                            reader.GetGuid(1),
                            reader.GetString(2),
                            reader.GetString(3),
                            reader.IsDBNull(4) ? null : reader.GetString(4),
                            reader.IsDBNull(5) ? null : reader.GetString(5),
                            reader.GetFieldValue<DateTimeOffset>(6));
                    }
                }

                if (family is { } familyId && user is not null)
                {
                    var pair = await InsertAsync(connection, tx, user, newId, familyId, ct);
                    await tx.CommitAsync(ct);
                    return (RefreshOutcome.Rotated, pair);
                }
            }

            await using var select = new NpgsqlCommand("SELECT family_id, user_id, revoked_at, replaced_by, expires_at FROM booking_refresh_tokens WHERE token_hash = $1", connection);
            select.Parameters.Add(new() { Value = hash });
            Guid reusedFamily;
            Guid userId;
            await using (var reader = await select.ExecuteReaderAsync(ct))
            {
                if (!await reader.ReadAsync(ct))
                {
                    return (RefreshOutcome.Invalid, null);
                }

                if (reader.IsDBNull(3))
                {
                    return (reader.IsDBNull(2) ? RefreshOutcome.Expired : RefreshOutcome.Revoked, null);
                }

                reusedFamily = reader.GetGuid(0);
                userId = reader.GetGuid(1);
            }

            LogReuse(_logger, userId, reusedFamily);
            AuthInstruments.RefreshReuses.Add(1);
            await RevokeFamilyAsync(connection, reusedFamily, ct);
            return (RefreshOutcome.Reused, null);
        }, cancellationToken);
    }

    /// <summary>Revokes the family of a refresh token (logout), with the access tokens issued in it.</summary>
    /// <param name="token">The refresh token.</param>
    /// <param name="userId">The signed-in user: a token of another user is left alone.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>Whether a family of that user was found.</returns>
    public async Task<bool> RevokeFamilyAsync(string token, Guid userId, CancellationToken cancellationToken)
    {
        if (Hash(token) is not { } hash)
        {
            return false;
        }

        return await _database.RunAsync<bool>(async (connection, ct) =>
        {
            await using var select = new NpgsqlCommand("SELECT family_id FROM booking_refresh_tokens WHERE token_hash = $1 AND user_id = $2", connection);
            select.Parameters.Add(new() { Value = hash });
            select.Parameters.Add(new() { Value = userId });
            if (await select.ExecuteScalarAsync(ct) is not Guid family)
            {
                return false;
            }

            await RevokeFamilyAsync(connection, family, ct);
            return true;
        }, cancellationToken);
    }

    /// <summary>The SHA-256 of a well-formed refresh token, or <see langword="null"/> for anything else.</summary>
    internal static byte[]? Hash(string? token)
    {
        if (token is null || token.Length != 43)
        {
            return null;
        }

        Span<byte> raw = stackalloc byte[33];
        if (Base64Url.DecodeFromChars(token, raw, out var read, out var written) != System.Buffers.OperationStatus.Done || read != 43 || written != 32)
        {
            return null;
        }

        return SHA256.HashData(raw[..32]);
    }

    private async Task RevokeFamilyAsync(NpgsqlConnection connection, Guid family, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        await using var revoke = new NpgsqlCommand(
            """
            UPDATE booking_refresh_tokens SET revoked_at = coalesce(revoked_at, $2) WHERE family_id = $1
            RETURNING access_token_id, access_expires_at
            """,
            connection);
        revoke.Parameters.Add(new() { Value = family });
        revoke.Parameters.Add(new() { Value = now });
        var live = new List<(string Id, DateTimeOffset ExpiresAt)>();
        await using (var reader = await revoke.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                if (!reader.IsDBNull(0) && reader.GetFieldValue<DateTimeOffset>(1) > now)
                {
                    live.Add((reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1)));
                }
            }
        }

        // The family's access tokens still alive go on the revocation list; best effort (they expire soon anyway).
        foreach (var (id, expiresAt) in live)
        {
            try
            {
                await _revocations.RevokeAsync(id, expiresAt, cancellationToken);
            }
            catch (Exception e) when (BookingRedisConnection.IsUnavailable(e))
            {
                LogFamilyAccessRevocationFailed(_logger, family, e);
            }
        }
    }

    private async Task<TokenPair> InsertAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, BookingUser user, Guid id, Guid family, CancellationToken cancellationToken)
    {
        var access = _issuer.Issue(user.Id, user.Role, user.Tenant, user.Plan);
        var secret = RandomNumberGenerator.GetBytes(32);
        var refresh = new RefreshToken(Base64Url.EncodeToString(secret), _time.GetUtcNow() + _options.Value.RefreshTokenLifetime);
        await using var insert = new NpgsqlCommand(
            """
            INSERT INTO booking_refresh_tokens (id, user_id, token_hash, family_id, created_at, expires_at, access_token_id, access_expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """,
            connection,
            tx);
        insert.Parameters.Add(new() { Value = id });
        insert.Parameters.Add(new() { Value = user.Id });
        insert.Parameters.Add(new() { Value = SHA256.HashData(secret) });
        insert.Parameters.Add(new() { Value = family });
        insert.Parameters.Add(new() { Value = _time.GetUtcNow() });
        insert.Parameters.Add(new() { Value = refresh.ExpiresAt });
        insert.Parameters.Add(new() { Value = access.TokenId });
        insert.Parameters.Add(new() { Value = access.ExpiresAt });
        await insert.ExecuteNonQueryAsync(cancellationToken);
        return new TokenPair(user, access, refresh);
    }

    [LoggerMessage(311, LogLevel.Warning, "Refresh token reuse for user {UserId}: family {FamilyId} revoked (stolen or replayed token)")]
    private static partial void LogReuse(ILogger logger, Guid userId, Guid familyId);

    [LoggerMessage(312, LogLevel.Warning, "Could not put the access tokens of revoked refresh family {FamilyId} on the revocation list (Redis unavailable); they expire by themselves")]
    private static partial void LogFamilyAccessRevocationFailed(ILogger logger, Guid familyId, Exception exception);
}
