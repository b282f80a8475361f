using Npgsql;

namespace Scaling.Locks.Tests;

/// <summary>
/// A table of documents protected by a lock: each write checks its fencing token inside its own transaction
/// (<see cref="FencingGuard"/>), as an application's write would. Shared by the lock tests and the peers' tests.
/// </summary>
/// <param name="dataSource">The database that holds the documents and issues the tokens.</param>
/// <param name="table">The table's name (each test project uses its own).</param>
internal sealed class FencedDocuments(NpgsqlDataSource dataSource, string table)
{
    /// <summary>Creates the table if it does not exist.</summary>
    public async Task CreateAsync()
    {
        await using var command = dataSource.CreateCommand(
            $"CREATE TABLE IF NOT EXISTS {table} (id text PRIMARY KEY, body text NOT NULL, written_with bigint NOT NULL)");
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Writes the document under <paramref name="token"/>; a stale token throws <see cref="StaleFencingTokenException"/>.</summary>
    public async Task WriteAsync(string resource, long token, string body)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await FencingGuard.CheckAsync(transaction, resource, token);
        await using var command = new NpgsqlCommand(
            $"INSERT INTO {table} (id, body, written_with) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET body = $2, written_with = $3",
            connection,
            transaction);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = resource });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = body });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = token });
        await command.ExecuteNonQueryAsync();
        await transaction.CommitAsync();
    }

    /// <summary>
    /// Writes the document under <paramref name="token"/> in one batch (one implicit transaction, one round trip) with
    /// <see cref="FencingGuard.CreateCheckCommand"/> before the write; a stale token fails the batch, translated to
    /// <see cref="StaleFencingTokenException"/>.
    /// </summary>
    public async Task WriteBatchAsync(string resource, long token, string body)
    {
        await using var batch = dataSource.CreateBatch();
        batch.BatchCommands.Add(FencingGuard.CreateCheckCommand(resource, token));
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {table} (id, body, written_with) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET body = $2, written_with = $3")
        {
            Parameters = { new NpgsqlParameter<string> { TypedValue = resource }, new NpgsqlParameter<string> { TypedValue = body }, new NpgsqlParameter<long> { TypedValue = token } },
        });
        try
        {
            await batch.ExecuteNonQueryAsync();
        }
        catch (PostgresException e) when (FencingGuard.TryGetStaleToken(e, out var stale))
        {
            throw stale;
        }
    }

    /// <summary>The document's body and the token it was written with.</summary>
    public async Task<(string Body, long Token)> ReadAsync(string resource)
    {
        await using var command = dataSource.CreateCommand($"SELECT body, written_with FROM {table} WHERE id = $1");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = resource });
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.GetString(0), reader.GetInt64(1));
    }
}
