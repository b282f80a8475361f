using Npgsql;

namespace Scaling.Locks;

/// <summary>
/// Fencing tokens kept in the PostgreSQL database that holds the protected data, in table
/// <c>scaling_lock_fences(resource text primary key, token bigint not null)</c>: the next token of a
/// resource is one more than the last, issued by a single atomic upsert, so tokens are strictly increasing
/// per resource and survive restarts. Use <see cref="FencingGuard"/> inside the protected write's
/// transaction to reject a stale token.
/// </summary>
/// <remarks>
/// The table, and the function <c>scaling_lock_check_fence(text, bigint)</c> behind
/// <see cref="FencingGuard.CreateCheckCommand"/>, are created if missing on first use; call
/// <see cref="EnsureSchemaAsync"/> at start-up (or create them in your migrations) if the
/// application's database role may not create tables at run time.
/// </remarks>
public sealed class PostgresFencingTokenSource : IFencingTokenSource
{
    /// <summary>The table that holds the latest token of each resource.</summary>
    public const string TableName = "scaling_lock_fences";

    // The table and the batch check's function, under a transaction-scoped advisory lock: sessions that create them at
    // the same time wait for each other instead of colliding in the catalog.
    private static readonly string SchemaSql = $$"""
        SELECT pg_advisory_xact_lock({{SchemaLockKey}});
        CREATE TABLE IF NOT EXISTS scaling_lock_fences (resource text PRIMARY KEY, token bigint NOT NULL);
        -- FencingGuard.CreateCheckCommand: the check of FencingGuard.CheckAsync as one statement that fails its batch
        -- (SQLSTATE {{FencingGuard.StaleTokenSqlState}}) when the token is not the latest, keeping the row share-locked otherwise.
        CREATE OR REPLACE FUNCTION scaling_lock_check_fence(p_resource text, p_token bigint) RETURNS bigint
        LANGUAGE plpgsql AS $fn$
        DECLARE
            latest bigint;
        BEGIN
            SELECT token INTO latest FROM scaling_lock_fences WHERE resource = p_resource FOR SHARE;
            IF latest IS DISTINCT FROM p_token THEN
                RAISE EXCEPTION USING ERRCODE = '{{FencingGuard.StaleTokenSqlState}}', MESSAGE = format(
                    'Fencing token %s is rejected: {{FencingGuard.LatestIssuedText}}%s. Resource: %s', p_token, coalesce(latest::text, 'none'), p_resource);
            END IF;
            RETURN latest;
        END
        $fn$;
        """;

    private const long SchemaLockKey = 0x5CA1_7E10_C4F0;

    private const string NextSql =
        "INSERT INTO scaling_lock_fences AS f (resource, token) VALUES ($1, 1) " +
        "ON CONFLICT (resource) DO UPDATE SET token = f.token + 1 RETURNING token";

    private readonly NpgsqlDataSource _dataSource;
    private volatile bool _schemaReady;

    /// <summary>Creates the source over <paramref name="dataSource"/>, the database that holds the protected data.</summary>
    /// <param name="dataSource">The data source (not owned: the caller disposes it).</param>
    public PostgresFencingTokenSource(NpgsqlDataSource dataSource)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
    }

    /// <summary>
    /// Creates the <c>scaling_lock_fences</c> table if it does not exist, and creates or updates the function
    /// <c>scaling_lock_check_fence</c> (<see cref="FencingGuard.CreateCheckCommand"/>).
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for the database.</param>
    /// <returns>A task that completes when the table and the function exist.</returns>
    public async Task EnsureSchemaAsync(CancellationToken cancellationToken = default)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var command = _dataSource.CreateCommand(SchemaSql);
                await using var commandLifetime = command.ConfigureAwait(false);
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                _schemaReady = true;
                return;
            }
            catch (PostgresException ex) when (attempt < 3 && ex.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateTable)
            {
                // Two sessions creating the table at once: one of them wins; try again to see it.
            }
        }
    }

    /// <inheritdoc />
    public async Task<long> NextAsync(string resource, CancellationToken cancellationToken = default)
    {
        LockResourceName.Validate(resource);
        if (!_schemaReady)
        {
            await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        }

        var command = _dataSource.CreateCommand(NextSql);
        await using var commandLifetime = command.ConfigureAwait(false);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = resource });
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>
    /// A batch command that issues the next token of <paramref name="resource"/>: its result is one row with the token
    /// (<see cref="long"/>). Put it in a batch of your data layer (one round trip, for example with the transaction's
    /// <c>COMMIT</c>); a token is issued only if that transaction commits. The table must exist (<see cref="EnsureSchemaAsync"/>).
    /// </summary>
    /// <param name="resource">The lock resource.</param>
    /// <returns>The command, to add to an <see cref="NpgsqlBatch"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="resource"/> is not a valid lock resource name.</exception>
    public static NpgsqlBatchCommand CreateNextCommand(string resource)
    {
        LockResourceName.Validate(resource);
        return new NpgsqlBatchCommand(NextSql) { Parameters = { new NpgsqlParameter<string> { TypedValue = resource } } };
    }

    /// <summary>
    /// Issues the next token of <paramref name="resource"/> on a connection you hold to the database that protects
    /// the data: for example inside a transaction that your data layer opened, so that its routing, health and
    /// timeout rules apply to the token too. The table must exist (<see cref="EnsureSchemaAsync"/>).
    /// </summary>
    /// <param name="connection">An open connection to the database that holds the protected data.</param>
    /// <param name="transaction">The connection's transaction, if one is open.</param>
    /// <param name="resource">The lock resource.</param>
    /// <param name="cancellationToken">Stops waiting for the database.</param>
    /// <returns>A token greater than every token issued for <paramref name="resource"/> before it.</returns>
    /// <exception cref="ArgumentException"><paramref name="resource"/> is not a valid lock resource name.</exception>
    public static async Task<long> NextOnConnectionAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string resource, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        LockResourceName.Validate(resource);
        var command = new NpgsqlCommand(NextSql, connection, transaction);
        await using var commandLifetime = command.ConfigureAwait(false);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = resource });
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }
}
