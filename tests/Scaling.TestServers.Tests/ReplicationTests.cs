using Npgsql;
using Scaling.Testing;

namespace Scaling.TestServers.Tests;

[Collection(ServersCollection.Name)]
public sealed class ReplicationTests(ServersFixture fixture)
{
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task Row_written_on_shard1_primary_appears_on_its_replica()
    {
        var table = "replication_" + Guid.NewGuid().ToString("N")[..8];
        await _servers.Shard1Primary.ExecuteAsync($"CREATE TABLE {table} (id int PRIMARY KEY, note text)");
        await _servers.Shard1Primary.ExecuteAsync($"INSERT INTO {table} VALUES (1, 'from the primary')");

        await Eventually.TrueAsync(
            async () => await CountOnReplicaAsync($"SELECT count(*) FROM {table} WHERE note = 'from the primary'") == 1,
            TimeSpan.FromSeconds(15), "the row to reach the replica");

        var ex = await Assert.ThrowsAsync<PostgresException>(() => _servers.Shard1Replica.ExecuteAsync($"INSERT INTO {table} VALUES (2, 'x')"));
        Assert.Equal("25006", ex.SqlState); // read_only_sql_transaction: the replica really is a hot standby
    }

    [Fact]
    public async Task Servers_are_independent_clusters_with_their_own_databases()
    {
        Assert.True(await _servers.Shard1Replica.ScalarAsync<bool>("SELECT pg_is_in_recovery()"));
        Assert.False(await _servers.Shard1Primary.ScalarAsync<bool>("SELECT pg_is_in_recovery()"));
        Assert.False(await _servers.Shard2Primary.ScalarAsync<bool>("SELECT pg_is_in_recovery()"));

        var table = "only_on_shard2_" + Guid.NewGuid().ToString("N")[..8];
        await _servers.Shard2Primary.ExecuteAsync($"CREATE TABLE {table} (id int)");
        Assert.Equal(1L, await _servers.Shard2Primary.ScalarAsync<long>($"SELECT count(*) FROM pg_tables WHERE tablename = '{table}'"));
        Assert.Equal(0L, await _servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM pg_tables WHERE tablename = '{table}'"));
        Assert.Equal(0L, await _servers.Metadata.ScalarAsync<long>($"SELECT count(*) FROM pg_tables WHERE tablename = '{table}'"));

        Assert.Equal("scaling_meta", await _servers.Metadata.ScalarAsync<string>("SELECT current_database()"));
        Assert.Equal("scaling", await _servers.Shard2Primary.ScalarAsync<string>("SELECT current_database()"));
        Assert.Equal(7, _servers.All.Select(s => s.Port).Distinct().Count());

        // btree_gist (the booking exclusion constraint needs it) is available on the shards.
        await _servers.Shard2Primary.ExecuteAsync("CREATE EXTENSION IF NOT EXISTS btree_gist");
    }

    [Fact]
    public async Task Replay_delay_puts_the_replica_replay_lsn_behind_the_primary_until_removed()
    {
        var table = "lag_" + Guid.NewGuid().ToString("N")[..8];
        await _servers.Shard1Primary.ExecuteAsync($"CREATE TABLE {table} (id int)");
        await WaitForReplicaToReachPrimaryAsync();

        await _servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.FromMinutes(5));
        try
        {
            await _servers.Shard1Primary.ExecuteAsync($"INSERT INTO {table} VALUES (1)");
            var primaryLsn = await _servers.Shard1Primary.GetCurrentWalLsnAsync();

            // The WAL arrives at the replica (received), but the commit is not replayed.
            await Eventually.TrueAsync(
                async () => await _servers.Shard1Replica.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("SELECT pg_last_wal_receive_lsn()") >= primaryLsn,
                TimeSpan.FromSeconds(15), "the replica to receive the WAL");
            await Task.Delay(300);
            Assert.True(await _servers.Shard1Replica.GetReplayLsnAsync() < primaryLsn, "replay LSN should lag the primary's");
            Assert.Equal(0L, await CountOnReplicaAsync($"SELECT count(*) FROM {table}"));
        }
        finally
        {
            await _servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.Zero);
        }

        await WaitForReplicaToReachPrimaryAsync();
        Assert.Equal(1L, await CountOnReplicaAsync($"SELECT count(*) FROM {table}"));
    }

    private async Task<long> CountOnReplicaAsync(string sql)
    {
        try
        {
            return await _servers.Shard1Replica.ScalarAsync<long>(sql);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return -1; // the CREATE TABLE itself is not replayed yet
        }
    }

    private async Task WaitForReplicaToReachPrimaryAsync()
    {
        var target = await _servers.Shard1Primary.GetCurrentWalLsnAsync();
        await Eventually.TrueAsync(
            async () => await _servers.Shard1Replica.GetReplayLsnAsync() >= target,
            TimeSpan.FromSeconds(15), $"the replica to replay up to {target}");
    }
}
