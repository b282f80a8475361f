using System.Diagnostics;
using Microsoft.Extensions.Options;
using Npgsql;
using Scaling.Testing;

namespace Scaling.Data.Tests;

/// <summary>The spans of the <c>Scaling.Data</c> activity source: where each read went and why, and writes.</summary>
[Collection(ServersCollection.Name)]
public sealed class TracingTests(ServersFixture fixture)
{
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task A_read_whose_token_the_replica_has_not_replayed_is_traced_to_the_primary_with_the_reason()
    {
        using var spans = new ActivityRecorder("Scaling.Data");
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o => o.MaxReplicaLagTime = TimeSpan.FromMinutes(10))));
        await data.CheckReplicasAsync();
        await _servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.FromSeconds(5));
        try
        {
            using var trace = ActivityRecorder.StartTrace();
            var written = await data.WriteAsync(async (tx, ct) =>
            {
                await using var insert = new NpgsqlCommand($"INSERT INTO {table} VALUES (1)", tx.Connection, tx);
                return await insert.ExecuteNonQueryAsync(ct);
            });
            var token = Assert.NotNull(written.Token);
            var port = await data.ReadAsync((connection, _) => DataTestKit.ServerPortAsync(connection), token);
            Assert.Equal(_servers.Shard1Primary.Port, port);

            var write = Assert.Single(spans.InTrace(trace, "data write"));
            Assert.Equal(ActivityKind.Internal, write.Kind);
            Assert.Equal("postgresql", write.GetTagItem("db.system.name"));
            Assert.Equal(_servers.Shard1Primary.Port, write.GetTagItem("server.port"));
            Assert.Equal(token.ToString(), write.GetTagItem("scaling.data.consistency_token"));
            Assert.Equal(ActivityStatusCode.Unset, write.Status);

            var read = Assert.Single(spans.InTrace(trace, "data read"));
            Assert.Equal("postgresql", read.GetTagItem("db.system.name"));
            Assert.Equal(data.Name, read.GetTagItem("scaling.data.data_source"));
            Assert.Equal(token.ToString(), read.GetTagItem("scaling.data.consistency_token"));
            Assert.Equal("primary", read.GetTagItem("scaling.data.route"));
            Assert.Equal("token_not_reached", read.GetTagItem("scaling.data.route.reason"));
            Assert.Equal("127.0.0.1", read.GetTagItem("server.address"));
            Assert.Equal(_servers.Shard1Primary.Port, read.GetTagItem("server.port"));
            Assert.Equal(_servers.Shard1Primary.Database, read.GetTagItem("db.namespace"));
            Assert.Equal(ActivityStatusCode.Unset, read.Status);
        }
        finally
        {
            await _servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.Zero);
        }
    }

    [Fact]
    public async Task A_plain_read_is_traced_to_the_replica_and_a_primary_only_read_to_the_primary()
    {
        using var spans = new ActivityRecorder("Scaling.Data");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));
        await data.CheckReplicasAsync();

        using var trace = ActivityRecorder.StartTrace();
        Assert.Equal(_servers.Shard1Replica.Port, await data.ReadAsync((connection, _) => DataTestKit.ServerPortAsync(connection)));
        Assert.Equal(_servers.Shard1Primary.Port, await data.ReadFromPrimaryAsync((connection, _) => DataTestKit.ServerPortAsync(connection)));

        var reads = spans.InTrace(trace, "data read");
        Assert.Equal(2, reads.Count);
        Assert.Equal("replica", reads[0].GetTagItem("scaling.data.route"));
        Assert.Equal("replica_available", reads[0].GetTagItem("scaling.data.route.reason"));
        Assert.Equal(_servers.Shard1Replica.Port, reads[0].GetTagItem("server.port"));
        Assert.Null(reads[0].GetTagItem("scaling.data.consistency_token"));
        Assert.Equal("primary", reads[1].GetTagItem("scaling.data.route"));
        Assert.Equal("primary_only", reads[1].GetTagItem("scaling.data.route.reason"));
        Assert.Equal(_servers.Shard1Primary.Port, reads[1].GetTagItem("server.port"));
        Assert.All(reads, r => Assert.Equal(trace.SpanId, r.ParentSpanId));
    }

    [Fact]
    public async Task A_read_that_falls_back_after_a_replica_failed_shows_the_failure_and_the_reason()
    {
        using var spans = new ActivityRecorder("Scaling.Data");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, DataTestKit.OnlyAnUnreachableReplica)));
        var unreachable = data.GetReplicaStatuses().Single().Name;

        using (var trace = ActivityRecorder.StartTrace())
        {
            // Not checked yet: the replica is tried, refuses the connection, and the read goes on on the primary.
            Assert.Equal(_servers.Shard1Primary.Port, await data.ReadAsync((connection, _) => DataTestKit.ServerPortAsync(connection)));
            var read = Assert.Single(spans.InTrace(trace, "data read"));
            Assert.Equal("primary", read.GetTagItem("scaling.data.route"));
            Assert.Equal("replica_failed", read.GetTagItem("scaling.data.route.reason"));
            var failed = Assert.Single(read.Events, e => e.Name == "server failed");
            var tags = failed.Tags.ToDictionary(t => t.Key, t => t.Value);
            Assert.Equal(unreachable, $"{tags["server.address"]}:{tags["server.port"]}");
            Assert.NotNull(tags["error.type"]);
        }

        await data.CheckReplicasAsync();
        Assert.Equal(ReplicaHealth.Ejected, data.GetReplicaStatuses().Single().Health);
        using (var trace = ActivityRecorder.StartTrace())
        {
            Assert.Equal(_servers.Shard1Primary.Port, await data.ReadAsync((connection, _) => DataTestKit.ServerPortAsync(connection)));
            var read = Assert.Single(spans.InTrace(trace, "data read"));
            Assert.Equal("replicas_ejected", read.GetTagItem("scaling.data.route.reason"));
            Assert.Empty(read.Events);
        }
    }

    [Fact]
    public async Task Reads_without_replicas_and_a_shed_read_are_traced_with_the_reason_and_the_error()
    {
        using var spans = new ActivityRecorder("Scaling.Data");
        await using var direct = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o => o.ReplicaConnectionStrings.Clear())));
        await using var bounded = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o =>
        {
            DataTestKit.OnlyAnUnreachableReplica(o);
            o.MaxPrimaryFallbackReads = 1;
            o.PrimaryFallbackWaitTimeout = TimeSpan.Zero;
        })));
        await bounded.CheckReplicasAsync();

        using var trace = ActivityRecorder.StartTrace();
        Assert.Equal(_servers.Shard1Primary.Port, await direct.ReadAsync((connection, _) => DataTestKit.ServerPortAsync(connection)));
        await using (await bounded.OpenReadConnectionAsync())
        {
            await Assert.ThrowsAsync<ReadCapacityExceededException>(async () => await bounded.OpenReadConnectionAsync());
        }

        var plain = Assert.Single(spans.InTrace(trace, "data read"), a => Equals(a.GetTagItem("scaling.data.data_source"), direct.Name));
        Assert.Equal("no_replicas", plain.GetTagItem("scaling.data.route.reason"));
        var shed = spans.InTrace(trace, "data read").Where(a => Equals(a.GetTagItem("scaling.data.data_source"), bounded.Name)).ToList();
        Assert.Equal(2, shed.Count);
        Assert.Equal(ActivityStatusCode.Unset, shed[0].Status);
        Assert.Equal(ActivityStatusCode.Error, shed[1].Status);
        Assert.Equal(typeof(ReadCapacityExceededException).FullName, shed[1].GetTagItem("error.type"));
        Assert.Contains("MaxPrimaryFallbackReads", shed[1].StatusDescription, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_write_whose_primary_is_unreachable_is_traced_as_an_error()
    {
        using var spans = new ActivityRecorder("Scaling.Data");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o =>
        {
            o.PrimaryConnectionString = DataTestKit.ClosedPortConnectionString();
            o.ReplicaConnectionStrings.Clear();
            o.MaxRetryAttempts = 0;
        })));

        using var trace = ActivityRecorder.StartTrace();
        await Assert.ThrowsAsync<PrimaryUnavailableException>(() => data.WriteAsync((_, _) => Task.FromResult(1)));
        var write = Assert.Single(spans.InTrace(trace, "data write"));
        Assert.Equal(ActivityStatusCode.Error, write.Status);
        Assert.Equal(typeof(PrimaryUnavailableException).FullName, write.GetTagItem("error.type"));
        Assert.Null(write.GetTagItem("scaling.data.consistency_token"));
    }
}
