using System.Data.Common;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Scaling.Testing;

namespace Scaling.Data.Tests;

/// <summary>
/// <see cref="ReadWriteDataSource.ForWrites"/> and <see cref="ReadWriteDataSource.ForReads"/>: plain ADO.NET data sources
/// on which Dapper runs unchanged, with the routing and read-your-writes of the package.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class DbDataSourceTests(ServersFixture fixture)
{
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task Dapper_writes_then_reads_with_the_token_under_replica_lag_and_is_never_stale_in_any_way_it_opens()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY, name text NOT NULL");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o =>
        {
            // The delayed replica stays admitted: only the token keeps reads from being stale.
            o.MaxReplicaLagTime = TimeSpan.FromMinutes(10);
        })));
        await data.CheckReplicasAsync();

        await _servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.FromSeconds(3));
        int stale = 0, staleWithoutToken = 0, reads = 0;
        try
        {
            for (var id = 1; id <= 10; id++)
            {
                ConsistencyToken token;
                await using (var connection = await data.ForWrites().OpenConnectionAsync())
                {
                    Assert.Equal(1, await connection.ExecuteAsync($"INSERT INTO {table} (id, name) VALUES (@id, @name)", new { id, name = "row " + id }));
                    token = await data.GetConsistencyTokenAsync((NpgsqlConnection)connection);
                }

                var reader = data.ForReads(token);
                var sql = $"SELECT name FROM {table} WHERE id = @id";

                // 1. Opened by the data source, as OpenReadConnectionAsync routes.
                await using (var opened = await reader.OpenConnectionAsync())
                {
                    stale += await opened.QuerySingleOrDefaultAsync<string>(sql, new { id }) is null ? 1 : 0;
                }

                // 2. Created unopened: Dapper opens and closes it.
                await using (var created = reader.CreateConnection())
                {
                    stale += await created.QuerySingleOrDefaultAsync<string>(sql, new { id }) is null ? 1 : 0;
                }

                // 3. A command of the data source itself.
                await using (var command = reader.CreateCommand($"SELECT count(*) FROM {table} WHERE id = {id}"))
                {
                    stale += (long)(await command.ExecuteScalarAsync())! == 1 ? 0 : 1;
                }

                reads += 3;
                await using var plain = await data.ForReads().OpenConnectionAsync();
                staleWithoutToken += await plain.QuerySingleOrDefaultAsync<string>(sql, new { id }) is null ? 1 : 0;
            }
        }
        finally
        {
            await _servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.Zero);
        }

        Assert.Equal(30, reads);
        Assert.Equal(0, stale);
        Assert.True(staleWithoutToken > 0, "without the token the delayed replica must serve stale reads (else this test proves nothing)");
    }

    [Fact]
    public async Task Reads_go_to_the_replica_once_it_has_replayed_the_token_and_writes_go_to_the_primary()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));
        await data.CheckReplicasAsync();
        await using var writer = data.ForWrites().CreateConnection();
        await writer.ExecuteAsync($"INSERT INTO {table} VALUES (1)");
        Assert.Equal(_servers.Shard1Primary.Port, await writer.ExecuteScalarAsync<int>("SELECT inet_server_port()"));
        var token = await data.GetConsistencyTokenAsync();

        await Eventually.TrueAsync(
            async () => token.IsReachedBy(await _servers.Shard1Replica.GetReplayLsnAsync()),
            TimeSpan.FromSeconds(15),
            "the replica to replay the write");
        await data.CheckReplicasAsync(); // the monitor's view, which CreateConnection routes by, has the replay position

        await using (var created = data.ForReads(token).CreateConnection())
        {
            Assert.Equal(_servers.Shard1Replica.Port, await created.ExecuteScalarAsync<int>("SELECT inet_server_port()"));
            Assert.Equal(1L, await created.ExecuteScalarAsync<long>($"SELECT count(*) FROM {table}"));
        }

        await using var opened = await data.ForReads(token).OpenConnectionAsync();
        Assert.Equal(_servers.Shard1Replica.Port, await opened.ExecuteScalarAsync<int>("SELECT inet_server_port()"));
    }

    [Fact]
    public async Task A_handed_out_data_source_owns_nothing_disposing_it_leaves_the_servers_in_use()
    {
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));
        await data.CheckReplicasAsync();
        DbDataSource reads = data.ForReads();
        DbDataSource writes = data.ForWrites();
        Assert.Same(writes, data.ForWrites());
        await reads.DisposeAsync();
        writes.Dispose();

        await using var read = await data.ForReads().OpenConnectionAsync();
        Assert.Equal(1, await read.ExecuteScalarAsync<int>("SELECT 1"));
        await using var write = await data.ForWrites().OpenConnectionAsync();
        Assert.Equal(1, await write.ExecuteScalarAsync<int>("SELECT 1"));
        Assert.Equal(1, await data.ReadAsync(async (c, ct) => await c.ExecuteScalarAsync<int>(new CommandDefinition("SELECT 1", cancellationToken: ct))));
    }

    [Fact]
    public async Task After_the_owner_is_disposed_a_handed_out_data_source_refuses_to_open()
    {
        var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));
        var reads = data.ForReads();
        await data.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await reads.OpenConnectionAsync());
        Assert.Throws<ObjectDisposedException>(() => reads.CreateConnection());
    }
}
