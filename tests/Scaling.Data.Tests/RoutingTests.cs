using Npgsql;
using Scaling.Testing;
using Microsoft.Extensions.Options;

namespace Scaling.Data.Tests;

[Collection(ServersCollection.Name)]
public sealed class RoutingTests(ServersFixture fixture)
{
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task Writes_go_to_the_primary_and_reads_to_the_healthy_replica()
    {
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));
        await data.CheckReplicasAsync();
        Assert.Equal(ReplicaHealth.Healthy, Assert.Single(data.GetReplicaStatuses()).Health);

        await using (var write = await data.OpenWriteConnectionAsync())
        {
            Assert.Equal(_servers.Shard1Primary.Port, await DataTestKit.ServerPortAsync(write));
        }

        for (var i = 0; i < 5; i++)
        {
            await using var read = await data.OpenReadConnectionAsync();
            Assert.Equal(_servers.Shard1Replica.Port, await DataTestKit.ServerPortAsync(read));
        }

        var port = await data.ReadAsync(async (connection, _) => await DataTestKit.ServerPortAsync(connection));
        Assert.Equal(_servers.Shard1Replica.Port, port);
        var query = await data.QueryAsync("SELECT inet_server_port(), $1::text", ["x"]);
        Assert.Equal(ServerRole.Replica, query.ServedBy);
        Assert.Equal(_servers.Shard1Replica.Port, (int)query.Rows[0][0]!);
        Assert.Equal("x", query.Rows[0][1]);
    }

    [Fact]
    public async Task Reads_are_spread_round_robin_and_a_server_that_is_not_in_recovery_is_ejected()
    {
        // Shard 2's primary posing as a replica: not in recovery, so it must never take reads once checked.
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o => o.ReplicaConnectionStrings.Add(_servers.Shard2Primary.ConnectionString()))));

        var before = new HashSet<int>();
        for (var i = 0; i < 6; i++)
        {
            await using var read = await data.OpenReadConnectionAsync();
            before.Add(await DataTestKit.ServerPortAsync(read));
        }

        Assert.Equal(new HashSet<int> { _servers.Shard1Replica.Port, _servers.Shard2Primary.Port }, before);

        await data.CheckReplicasAsync();
        var impostor = data.GetReplicaStatuses().Single(s => s.Name.EndsWith($":{_servers.Shard2Primary.Port}", StringComparison.Ordinal));
        Assert.Equal(ReplicaHealth.Ejected, impostor.Health);
        Assert.False(impostor.InRecovery);
        Assert.StartsWith("not in recovery", impostor.Reason, StringComparison.Ordinal);

        for (var i = 0; i < 6; i++)
        {
            await using var read = await data.OpenReadConnectionAsync();
            Assert.Equal(_servers.Shard1Replica.Port, await DataTestKit.ServerPortAsync(read));
        }
    }

    [Fact]
    public async Task With_no_healthy_replica_reads_fall_back_to_the_primary()
    {
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, DataTestKit.OnlyAnUnreachableReplica)));
        using var metrics = new DataMetricsCollector(data.Name);
        await data.CheckReplicasAsync();
        var status = Assert.Single(data.GetReplicaStatuses());
        Assert.Equal(ReplicaHealth.Ejected, status.Health);
        Assert.StartsWith("unreachable", status.Reason, StringComparison.Ordinal);

        var port = await data.ReadAsync(async (connection, _) => await DataTestKit.ServerPortAsync(connection));
        Assert.Equal(_servers.Shard1Primary.Port, port);
        Assert.Equal(1, metrics.Sum("scaling.data.read.fallbacks", "reason", "no_replica_available"));
        Assert.Equal(1, metrics.Sum("scaling.data.replica.ejections", "reason", "unreachable"));
    }

    [Fact]
    public async Task Without_replicas_every_read_goes_to_the_primary_unbounded()
    {
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o =>
        {
            o.ReplicaConnectionStrings.Clear();
            o.MaxPrimaryFallbackReads = 1;
            o.PrimaryFallbackWaitTimeout = TimeSpan.Zero;
        })));
        await using var first = await data.OpenReadConnectionAsync();
        await using var second = await data.OpenReadConnectionAsync();
        Assert.Equal(_servers.Shard1Primary.Port, await DataTestKit.ServerPortAsync(second));
    }

    [Fact]
    public async Task Fallback_reads_on_the_primary_are_bounded_and_the_rest_fail_fast_with_a_clear_exception()
    {
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o =>
        {
            DataTestKit.OnlyAnUnreachableReplica(o);
            o.MaxPrimaryFallbackReads = 2;
            o.PrimaryFallbackWaitTimeout = TimeSpan.Zero;
        })));
        await data.CheckReplicasAsync();

        var first = await data.OpenReadConnectionAsync();
        await using var second = await data.OpenReadConnectionAsync();
        var shed = await Assert.ThrowsAsync<ReadCapacityExceededException>(async () => await data.OpenReadConnectionAsync());
        Assert.Contains("maximum of 2 fallback reads", shed.Message, StringComparison.Ordinal);
        Assert.Contains("MaxPrimaryFallbackReads", shed.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ReadCapacityExceededException>(() => data.ReadAsync((_, _) => Task.FromResult(1)));

        // Closing a fallback connection frees its slot.
        await first.DisposeAsync();
        await using var third = await data.OpenReadConnectionAsync();
        Assert.Equal(_servers.Shard1Primary.Port, await DataTestKit.ServerPortAsync(third));
    }

    [Fact]
    public async Task A_waiting_fallback_read_gets_a_slot_when_one_is_freed()
    {
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o =>
        {
            DataTestKit.OnlyAnUnreachableReplica(o);
            o.MaxPrimaryFallbackReads = 1;
            o.PrimaryFallbackWaitTimeout = TimeSpan.FromSeconds(20);
        })));
        await data.CheckReplicasAsync();
        var held = await data.OpenReadConnectionAsync();
        var waiting = data.ReadAsync(async (c, _) => await DataTestKit.ServerPortAsync(c));
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);
        await held.DisposeAsync();
        Assert.Equal(_servers.Shard1Primary.Port, await waiting);
    }

    [Fact]
    public async Task The_query_helper_writes_on_the_primary_and_returns_a_token()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY, note text");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));
        var insert = await data.QueryAsync($"INSERT INTO {table} VALUES ($1, $2) RETURNING id", [7, null], isWrite: true);
        Assert.Equal(ServerRole.Primary, insert.ServedBy);
        Assert.Equal(1, insert.RowsAffected);
        Assert.Equal(7, (int)insert.Rows[0][0]!);
        Assert.NotNull(insert.Token);

        var read = await data.QueryAsync($"SELECT note FROM {table} WHERE id = $1", [7], token: insert.Token);
        Assert.Null(Assert.Single(read.Rows)[0]);
        await Assert.ThrowsAsync<ArgumentException>(() => data.QueryAsync("SELECT 1", isWrite: true, token: insert.Token));
        await Assert.ThrowsAsync<ArgumentException>(() => data.QueryAsync(" "));
    }
}
