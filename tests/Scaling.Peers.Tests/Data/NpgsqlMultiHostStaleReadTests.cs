using Microsoft.Extensions.Options;
using Npgsql;
using Scaling.Data;
using Scaling.Testing;

namespace Scaling.Peers.Tests.Data;

/// <summary>
/// Npgsql's own multi-host data source under replica lag: with <see cref="TargetSessionAttributes.PreferStandby"/> it
/// picks a host by its role alone (primary or standby, rechecked every <c>Host Recheck Seconds</c>), never by how far
/// the standby has replayed, and it has no way to carry a position from a write to a later read. Scaling.Data, under the
/// same delay and on the same replica, routes a read that carries the write's consistency token where the write is
/// visible (tests/Scaling.Data.Tests' <c>ReadYourWritesTests</c> repeats it 20 times).
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class NpgsqlMultiHostStaleReadTests(ServersFixture fixture)
{
    private readonly TestServers _servers = fixture.Servers;

    [Fact]
    public async Task NpgsqlMultiHost_PreferStandby_serves_a_stale_read_right_after_its_own_write_on_a_lagging_standby_and_ours_with_the_token_does_not()
    {
        var primary = _servers.Shard1Primary;
        var replica = _servers.Shard1Replica;
        var table = $"peers_multihost_{Guid.NewGuid():N}";
        await primary.ExecuteAsync($"CREATE TABLE {table} (id int PRIMARY KEY)");
        await WaitUntilReplicaCaughtUpAsync("the replica to replay the table's creation");

        // The peer as Npgsql's failover and load-balancing docs set it up: one multi-host data source, a primary
        // session for writes and a prefer-standby session for reads.
        var settings = new NpgsqlConnectionStringBuilder(primary.ConnectionString())
        {
            Host = $"{primary.Host}:{primary.Port},{replica.Host}:{replica.Port}",
            LoadBalanceHosts = true,
        };
        await using var multiHost = new NpgsqlDataSourceBuilder(settings.ConnectionString).BuildMultiHost();
        var writes = multiHost.WithTargetSession(TargetSessionAttributes.Primary);
        var reads = multiHost.WithTargetSession(TargetSessionAttributes.PreferStandby);

        // Ours as its README sets it up, with lag thresholds high enough that the delayed replica stays admitted: only
        // the token can keep the read from being stale.
        var options = new ScalingDataOptions
        {
            Name = "peers-" + Guid.NewGuid().ToString("N")[..8],
            PrimaryConnectionString = primary.ConnectionString(),
            MaxReplicaLagTime = TimeSpan.FromMinutes(10),
        };
        options.ReplicaConnectionStrings.Add(replica.ConnectionString());
        await using var ours = new ReadWriteDataSource(Options.Create(options));
        await ours.CheckReplicasAsync();

        await replica.SetReplayDelayAsync(TimeSpan.FromSeconds(3));
        try
        {
            await using (var write = await writes.OpenConnectionAsync())
            {
                await using var insert = new NpgsqlCommand($"INSERT INTO {table} VALUES (1)", write);
                Assert.Equal(1, await insert.ExecuteNonQueryAsync());
            }

            await using var read = await reads.OpenConnectionAsync();
            await using var inRecovery = new NpgsqlCommand("SELECT pg_is_in_recovery()", read);
            Assert.Equal(true, await inRecovery.ExecuteScalarAsync());
            await using var count = new NpgsqlCommand($"SELECT count(*) FROM {table} WHERE id = 1", read);
            Assert.Equal(0L, await count.ExecuteScalarAsync());

            // The write is committed (the primary has the row): the read above was stale, not lost.
            Assert.Equal(1L, await primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE id = 1"));

            // Ours: the same write and read, the read carrying the write's token.
            var written = await ours.WriteAsync(async (tx, ct) =>
            {
                await using var insert = new NpgsqlCommand($"INSERT INTO {table} VALUES (2)", tx.Connection, tx);
                return await insert.ExecuteNonQueryAsync(ct);
            });
            var token = Assert.NotNull(written.Token);
            Assert.Equal(1L, await ours.ReadAsync(
                async (connection, ct) =>
                {
                    await using var read2 = new NpgsqlCommand($"SELECT count(*) FROM {table} WHERE id = 2", connection);
                    return (long)(await read2.ExecuteScalarAsync(ct))!;
                },
                token));
        }
        finally
        {
            await replica.SetReplayDelayAsync(TimeSpan.Zero);
            await WaitUntilReplicaCaughtUpAsync("the replica to catch up after the replay delay was removed");
        }
    }

    private async Task WaitUntilReplicaCaughtUpAsync(string what)
    {
        var target = await _servers.Shard1Primary.GetCurrentWalLsnAsync();
        await Eventually.TrueAsync(async () => await _servers.Shard1Replica.GetReplayLsnAsync() >= target, TimeSpan.FromSeconds(15), what);
    }
}
