using System.Net.Sockets;
using Npgsql;
using Scaling.Testing;

namespace Scaling.TestServers.Tests;

[Collection(ServersCollection.Name)]
public sealed class PostgresFaultTests(ServersFixture fixture)
{
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task Stopped_primary_refuses_connections_and_restarts_with_its_data()
    {
        var shard2 = _servers.Shard2Primary;
        var table = "stop_" + Guid.NewGuid().ToString("N")[..8];
        await shard2.ExecuteAsync($"CREATE TABLE {table} AS SELECT 42 AS answer");
        try
        {
            await shard2.StopAsync();
            var ex = await Assert.ThrowsAsync<NpgsqlException>(() => shard2.ExecuteAsync("SELECT 1"));
            Assert.Equal(SocketError.ConnectionRefused, Assert.IsType<SocketException>(ex.InnerException).SocketErrorCode);
        }
        finally
        {
            await shard2.RestartAsync();
        }

        Assert.Equal(42, await shard2.ScalarAsync<int>($"SELECT answer FROM {table}"));
    }

    [Fact]
    public async Task Killed_primary_recovers_committed_data_after_restart_and_leaves_no_shared_memory_segment()
    {
        var metadata = _servers.Metadata;
        var table = "kill_" + Guid.NewGuid().ToString("N")[..8];
        await metadata.ExecuteAsync($"CREATE TABLE {table} AS SELECT 7 AS n");
        var lsn = await metadata.GetCurrentWalLsnAsync();
        // synchronous_commit is off in the harness: wait until the WAL writer has written the commit out.
        await Eventually.TrueAsync(
            async () => await metadata.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("SELECT pg_current_wal_flush_lsn()") >= lsn,
            TimeSpan.FromSeconds(10), "the commit to be written out");
        var segment = SharedMemorySegmentOf(metadata);
        Assert.Contains(segment, SharedMemorySegments());
        try
        {
            await metadata.KillAsync();
            await Assert.ThrowsAsync<NpgsqlException>(() => metadata.ExecuteAsync("SELECT 1"));

            // A killed postmaster leaves its System V segment behind: the harness removes it (they used to add up
            // until no PostgreSQL could start on the machine).
            Assert.DoesNotContain(segment, SharedMemorySegments());
        }
        finally
        {
            await metadata.RestartAsync();
        }

        Assert.Equal(7, await metadata.ScalarAsync<int>($"SELECT n FROM {table}"));
    }

    [Fact]
    public async Task Paused_primary_times_out_and_answers_after_resume()
    {
        var shard2 = _servers.Shard2Primary;
        var quick = new NpgsqlConnectionStringBuilder(shard2.ConnectionString(pooling: false)) { Timeout = 1 }.ConnectionString;
        try
        {
            await shard2.PauseAsync();
            await using var connection = new NpgsqlConnection(quick);
            var ex = await Assert.ThrowsAsync<NpgsqlException>(() => connection.OpenAsync());
            Assert.IsType<TimeoutException>(ex.InnerException);
        }
        finally
        {
            await shard2.ResumeAsync();
        }

        Assert.Equal(1, await shard2.ScalarAsync<int>("SELECT 1"));
    }

    [Fact]
    public async Task Killed_replica_catches_up_with_writes_made_while_it_was_down()
    {
        var table = "catchup_" + Guid.NewGuid().ToString("N")[..8];
        await _servers.Shard1Primary.ExecuteAsync($"CREATE TABLE {table} (id int)");
        try
        {
            await _servers.Shard1Replica.KillAsync();
            await _servers.Shard1Primary.ExecuteAsync($"INSERT INTO {table} SELECT generate_series(1, 1000)");
        }
        finally
        {
            await _servers.Shard1Replica.RestartAsync();
        }

        await Eventually.TrueAsync(
            async () =>
            {
                try
                {
                    return await _servers.Shard1Replica.ScalarAsync<long>($"SELECT count(*) FROM {table}") == 1000;
                }
                catch (PostgresException)
                {
                    return false; // the table itself may not be replayed yet
                }
            },
            TimeSpan.FromSeconds(20), "the restarted replica to replay the 1000 rows");
    }

    /// <summary>The id of the System V shared memory segment a running server names on line 7 of its postmaster.pid.</summary>
    private static string SharedMemorySegmentOf(PostgresServer server)
    {
        var lines = File.ReadAllLines(Path.Combine(server.Directory, "postmaster.pid"));
        return lines[6].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
    }

    /// <summary>The ids of the machine's System V shared memory segments.</summary>
    private static IReadOnlyList<string> SharedMemorySegments() =>
        [.. File.ReadLines("/proc/sysvipc/shm").Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1])];
}
