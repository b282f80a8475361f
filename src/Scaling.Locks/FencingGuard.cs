using Npgsql;

namespace Scaling.Locks;

/// <summary>
/// Rejects a stale fencing token inside the protected write's own PostgreSQL transaction.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="CheckAsync"/> reads the resource's latest issued token with <c>FOR SHARE</c> and throws
/// <see cref="StaleFencingTokenException"/> unless the write's token is that latest token. Two properties
/// follow:
/// </para>
/// <list type="bullet">
/// <item>A holder whose lock passed to someone else is rejected as soon as the new holder has its token,
/// even if the new holder has not written yet.</item>
/// <item>The row lock is kept until the caller's transaction ends, and issuing a new token
/// (<see cref="PostgresFencingTokenSource.NextAsync"/>) must update that row, so a newer token cannot be
/// issued while a checked write is in flight: every committed write happened while its token was the latest.</item>
/// </list>
/// <para>Call it first in the transaction, then write, then commit; if it throws, roll back.</para>
/// </remarks>
public static class FencingGuard
{
    private const string CheckSql = "SELECT token FROM scaling_lock_fences WHERE resource = $1 FOR SHARE";

    /// <summary>
    /// Verifies, inside <paramref name="transaction"/>, that <paramref name="token"/> is still the latest
    /// fencing token issued for <paramref name="resource"/>, and keeps it so until the transaction ends.
    /// </summary>
    /// <param name="transaction">The protected write's open transaction (on the database that issued the tokens).</param>
    /// <param name="resource">The resource's name.</param>
    /// <param name="token">The token of the lock the writer holds (<see cref="IDistributedLockHandle.FencingToken"/>).</param>
    /// <param name="cancellationToken">Stops waiting for the database.</param>
    /// <returns>A task that completes when the token is verified.</returns>
    /// <exception cref="StaleFencingTokenException">A newer token has been issued for the resource, or the token was never issued.</exception>
    public static async Task CheckAsync(NpgsqlTransaction transaction, string resource, long token, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        LockResourceName.Validate(resource);
        var connection = transaction.Connection
            ?? throw new ArgumentException("The transaction is already completed; check the token inside the open transaction of the write.", nameof(transaction));

        using var command = new NpgsqlCommand(CheckSql, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = resource });
        var latest = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as long?;
        if (latest != token)
        {
            throw new StaleFencingTokenException(resource, token, latest);
        }
    }
}
