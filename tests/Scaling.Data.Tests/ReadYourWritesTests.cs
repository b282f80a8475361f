using Npgsql;
using Scaling.Testing;
using Microsoft.Extensions.Options;

namespace Scaling.Data.Tests;

[Collection(ServersCollection.Name)]
public sealed class ReadYourWritesTests(ServersFixture fixture)
{
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task With_replay_delayed_a_read_with_the_token_is_never_stale_and_without_it_the_stale_read_is_seen()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o =>
        {
            // Thresholds high enough that the delayed replica stays admitted: routing must rely on the token.
            o.MaxReplicaLagTime = TimeSpan.FromMinutes(10);
        })));
        await data.CheckReplicasAsync();

        await _servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.FromSeconds(3));
        var staleWithToken = 0;
        var staleWithoutToken = 0;
        try
        {
            for (var id = 1; id <= 20; id++)
            {
                var written = await data.WriteAsync(async (tx, ct) =>
                {
                    await using var insert = new NpgsqlCommand($"INSERT INTO {table} VALUES ({id})", tx.Connection, tx);
                    return await insert.ExecuteNonQueryAsync(ct);
                });
                Assert.Equal(1, written.Value);
                var token = Assert.NotNull(written.Token);
                Assert.Equal(token, ConsistencyToken.Parse(token.ToString())); // survives a header/cookie round trip

                var count = $"SELECT count(*) FROM {table} WHERE id = {id}";
                if (await data.ReadAsync((c, ct) => CountAsync(c, count, ct), token) != 1)
                {
                    staleWithToken++;
                }

                if (await data.ReadAsync((c, ct) => CountAsync(c, count, ct)) != 1)
                {
                    staleWithoutToken++;
                }
            }
        }
        finally
        {
            await _servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.Zero);
        }

        Assert.Equal(0, staleWithToken);
        Assert.True(staleWithoutToken > 0, "without the token the delayed replica must serve stale reads (else this test proves nothing)");
        Assert.Equal(ReplicaHealth.Healthy, Assert.Single(data.GetReplicaStatuses()).Health);
    }

    [Fact]
    public async Task A_read_with_a_token_goes_to_the_replica_once_it_has_replayed_that_far()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));
        await data.CheckReplicasAsync();
        var written = await data.WriteAsync(async (tx, ct) =>
        {
            await using var insert = new NpgsqlCommand($"INSERT INTO {table} VALUES (1)", tx.Connection, tx);
            return await insert.ExecuteNonQueryAsync(ct);
        });
        var token = written.Token!.Value;
        await Eventually.TrueAsync(
            async () => token.IsReachedBy(await _servers.Shard1Replica.GetReplayLsnAsync()),
            TimeSpan.FromSeconds(15),
            "the replica to replay the write");

        // The cached replay position may be older than the token: the router checks the replica live.
        await using var read = await data.OpenReadConnectionAsync(token);
        Assert.Equal(_servers.Shard1Replica.Port, await DataTestKit.ServerPortAsync(read));
        Assert.Equal(1L, await CountAsync(read, $"SELECT count(*) FROM {table}", default));
    }

    [Fact]
    public async Task GetConsistencyTokenAsync_after_a_manual_commit_covers_the_write()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));
        await using var connection = await data.OpenWriteConnectionAsync();
        await using (var insert = new NpgsqlCommand($"INSERT INTO {table} VALUES (1)", connection))
        {
            await insert.ExecuteNonQueryAsync();
        }

        var token = await data.GetConsistencyTokenAsync(connection);
        var later = await data.GetConsistencyTokenAsync();
        Assert.True(later >= token);
        Assert.True(token.IsReachedBy(await _servers.Shard1Primary.GetCurrentWalLsnAsync()));
        await using var read = await data.OpenReadConnectionAsync(token);
        Assert.Equal(1L, await CountAsync(read, $"SELECT count(*) FROM {table}", default));
    }

    private static async Task<long> CountAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
