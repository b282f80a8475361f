using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Scaling.Tenancy.Migrations;

/// <summary>The history table of one target: its SQL, its advisory lock key, and reading it.</summary>
internal sealed class MigrationHistory
{
    public MigrationHistory(string schema, string table)
    {
        Schema = schema;
        Table = table;
        QualifiedName = Sharding.Sql.Identifier(schema) + "." + Sharding.Sql.Identifier(table);
        LockKey = ComputeLockKey(schema, table);
        CreateSql = $"""
            CREATE TABLE IF NOT EXISTS {QualifiedName} (
                version bigint PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                transactional boolean NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                duration_ms bigint NOT NULL,
                applied_by text NOT NULL DEFAULT current_user
            )
            """;
        SelectSql = $"SELECT version, name, checksum FROM {QualifiedName} ORDER BY version";
        InsertSql = $"INSERT INTO {QualifiedName} (version, name, checksum, transactional, duration_ms) VALUES ($1, $2, $3, $4, $5)";
    }

    public string Schema { get; }

    public string Table { get; }

    /// <summary>The quoted, schema-qualified name (the parts are validated identifiers, so quoting needs no escaping).</summary>
    public string QualifiedName { get; }

    /// <summary>The key of the session-level advisory lock that serializes runners on this history table.</summary>
    public long LockKey { get; }

    public string CreateSql { get; }

    public string SelectSql { get; }

    public string InsertSql { get; }

    /// <summary>
    /// The first 8 bytes (big-endian) of SHA-256("scaling.tenancy.migrations:" + schema + "." + table): stable across
    /// processes, versions and platforms, and unlikely to collide with other applications' advisory locks.
    /// </summary>
    public static long ComputeLockKey(string schema, string table)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"scaling.tenancy.migrations:{schema}.{table}"));
        return BinaryPrimitives.ReadInt64BigEndian(hash);
    }

    /// <summary>Reads the applied migrations (version → name, checksum); empty when the table does not exist.</summary>
    public async Task<SortedDictionary<long, (string Name, string Checksum)>> ReadAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var applied = new SortedDictionary<long, (string Name, string Checksum)>();
        using (var exists = new NpgsqlCommand("SELECT to_regclass($1) IS NOT NULL", connection) { Parameters = { new() { Value = QualifiedName } } })
        {
            if (!(bool)(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
            {
                return applied;
            }
        }

        using var command = new NpgsqlCommand(SelectSql, connection);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerLifetime = reader.ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            applied[reader.GetInt64(0)] = (reader.GetString(1), reader.GetString(2));
        }

        return applied;
    }

    /// <summary>Creates the schema and table if missing (call under the lock).</summary>
    public async Task EnsureCreatedAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        using (var exists = new NpgsqlCommand("SELECT to_regclass($1) IS NOT NULL", connection) { Parameters = { new() { Value = QualifiedName } } })
        {
            if ((bool)(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
            {
                return;
            }
        }

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using var transactionLifetime = transaction.ConfigureAwait(false);
                using (var command = new NpgsqlCommand($"CREATE SCHEMA IF NOT EXISTS \"{Schema}\"", connection, transaction))
                {
                    await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                using (var command = new NpgsqlCommand(CreateSql, connection, transaction))
                {
                    await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (PostgresException e) when (attempt < 3 && e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateSchema)
            {
                // "IF NOT EXISTS" is not atomic: a runner on another history table in the same schema created it at the same moment.
            }
        }
    }

    public async Task InsertAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, SqlMigration migration, TimeSpan duration, CancellationToken cancellationToken)
    {
        using var command = new NpgsqlCommand(InsertSql, connection, transaction)
        {
            Parameters =
            {
                new() { Value = migration.Version },
                new() { Value = migration.Name },
                new() { Value = migration.Checksum },
                new() { Value = migration.Transactional },
                new() { Value = (long)duration.TotalMilliseconds },
            },
        };
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
