using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.RegularExpressions;
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
/// <para>
/// For a write sent as one batch (one round trip, <c>COMMIT</c> included), put <see cref="CreateCheckCommand"/> before
/// the write's commands: the same check as one statement, which fails the whole batch, so nothing of it commits, when
/// the token is stale. <see cref="TryGetStaleToken"/> turns that failure into a <see cref="StaleFencingTokenException"/>.
/// </para>
/// </remarks>
public static partial class FencingGuard
{
    /// <summary>The SQLSTATE with which <see cref="CreateCheckCommand"/>'s statement rejects a stale token.</summary>
    public const string StaleTokenSqlState = "SCL01";

    /// <summary>The words before the latest token in the check function's message (parsed back by <see cref="TryGetStaleToken"/>).</summary>
    internal const string LatestIssuedText = "the latest issued is ";

    private const string CheckSql = "SELECT token FROM scaling_lock_fences WHERE resource = $1 FOR SHARE";

    private const string CheckFunctionSql = "SELECT scaling_lock_check_fence($1, $2)";

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

    /// <summary>
    /// A batch command that does what <see cref="CheckAsync"/> does, as one statement of the write's own batch: put it
    /// before the write's commands. When <paramref name="token"/> is not the latest issued for
    /// <paramref name="resource"/>, it fails with SQLSTATE <see cref="StaleTokenSqlState"/>, and with it the batch, so
    /// nothing of the write commits; otherwise the resource's row stays share-locked until the transaction ends.
    /// </summary>
    /// <remarks>
    /// It calls the function <c>scaling_lock_check_fence</c>, which <see cref="PostgresFencingTokenSource.EnsureSchemaAsync"/>
    /// creates beside the tokens' table. Catch the batch's <see cref="PostgresException"/> with <see cref="TryGetStaleToken"/>.
    /// </remarks>
    /// <param name="resource">The resource's name.</param>
    /// <param name="token">The token of the lock the writer holds (<see cref="IDistributedLockHandle.FencingToken"/>).</param>
    /// <returns>The command, to add to the write's <see cref="NpgsqlBatch"/> before its writes.</returns>
    /// <exception cref="ArgumentException"><paramref name="resource"/> is not a valid lock resource name.</exception>
    public static NpgsqlBatchCommand CreateCheckCommand(string resource, long token)
    {
        LockResourceName.Validate(resource);
        return new NpgsqlBatchCommand(CheckFunctionSql)
        {
            Parameters = { new NpgsqlParameter<string> { TypedValue = resource }, new NpgsqlParameter<long> { TypedValue = token } },
        };
    }

    /// <summary>
    /// Whether <paramref name="exception"/> (or one of its inner exceptions) is the rejection of a stale token by
    /// <see cref="CreateCheckCommand"/>'s statement; if so, <paramref name="stale"/> describes it as
    /// <see cref="CheckAsync"/> would have, with the database's error as its inner exception.
    /// </summary>
    /// <param name="exception">What the batch threw.</param>
    /// <param name="stale">The rejection, or <see langword="null"/>.</param>
    /// <returns><see langword="true"/> when the batch failed because the token is stale.</returns>
    public static bool TryGetStaleToken(Exception exception, [NotNullWhen(true)] out StaleFencingTokenException? stale)
    {
        ArgumentNullException.ThrowIfNull(exception);
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is PostgresException { SqlState: StaleTokenSqlState } rejected && Rejection().Match(rejected.MessageText) is { Success: true } match)
            {
                var resource = match.Groups["resource"].Value;
                var token = long.Parse(match.Groups["token"].ValueSpan, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
                long? latest = match.Groups["latest"].Value == "none" ? null : long.Parse(match.Groups["latest"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture);
                stale = new StaleFencingTokenException(resource, token, latest, rejected);
                return true;
            }
        }

        stale = null;
        return false;
    }

    // The function's message: Fencing token <token> is rejected: the latest issued is <latest|none>. Resource: <resource>
    // (the resource last and whole: it may hold any character).
    [GeneratedRegex(@"^Fencing token (?<token>-?[0-9]+) is rejected: " + LatestIssuedText + @"(?<latest>[0-9]+|none)\. Resource: (?<resource>.*)\z", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex Rejection();
}
