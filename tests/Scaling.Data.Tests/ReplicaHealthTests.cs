using Npgsql;
using Scaling.Testing;
using Microsoft.Extensions.Options;

namespace Scaling.Data.Tests;

[Collection(ServersCollection.Name)]
public sealed class ReplicaHealthTests(ServersFixture fixture)
{
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task A_lagging_replica_is_ejected_and_readmitted_only_after_it_has_caught_up_for_several_checks()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id serial PRIMARY KEY");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o =>
        {
            o.MaxReplicaLagTime = TimeSpan.FromSeconds(1);
            o.ReadmitAfterHealthyChecks = 3;
        })));
        using var metrics = new DataMetricsCollector(data.Name);
        await data.CheckReplicasAsync();
        Assert.Equal(ReplicaHealth.Healthy, Assert.Single(data.GetReplicaStatuses()).Health);

        await _servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.FromSeconds(4));
        try
        {
            // Keep writing so WAL waits for replay; the lag in time grows past 1 s.
            await Eventually.TrueAsync(
                async () =>
                {
                    await _servers.Shard1Primary.ExecuteAsync($"INSERT INTO {table} DEFAULT VALUES");
                    await data.CheckReplicasAsync();
                    return data.GetReplicaStatuses()[0].Health == ReplicaHealth.Ejected;
                },
                TimeSpan.FromSeconds(20),
                "the lagging replica to be ejected");
            var ejected = data.GetReplicaStatuses()[0];
            Assert.StartsWith("replication lag", ejected.Reason, StringComparison.Ordinal);
            Assert.True(ejected.LagTime > TimeSpan.FromSeconds(1));
            Assert.True(ejected.LagBytes > 0);
            metrics.Observe();
            Assert.Contains(metrics.Measurements, m => m.Instrument == "scaling.data.replica.lag.time" && m.Value > 1);
            Assert.Contains(metrics.Measurements, m => m.Instrument == "scaling.data.replica.healthy" && m.Value == 0);

            // While ejected, reads are served by the primary.
            await using var read = await data.OpenReadConnectionAsync();
            Assert.Equal(_servers.Shard1Primary.Port, await DataTestKit.ServerPortAsync(read));
        }
        finally
        {
            await _servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.Zero);
        }

        // Caught up, the replica needs 3 healthy checks in a row: hysteresis, not a flap on the first good probe.
        await Eventually.TrueAsync(
            async () => (await _servers.Shard1Replica.GetReplayLsnAsync()) >= await _servers.Shard1Primary.GetCurrentWalLsnAsync(),
            TimeSpan.FromSeconds(20),
            "the replica to catch up");
        await data.CheckReplicasAsync();
        Assert.Equal(ReplicaHealth.Ejected, data.GetReplicaStatuses()[0].Health);
        await data.CheckReplicasAsync();
        Assert.Equal(ReplicaHealth.Ejected, data.GetReplicaStatuses()[0].Health);
        await data.CheckReplicasAsync();
        var readmitted = data.GetReplicaStatuses()[0];
        Assert.Equal(ReplicaHealth.Healthy, readmitted.Health);
        Assert.Null(readmitted.Reason);
        Assert.Equal(1, metrics.Sum("scaling.data.replica.ejections", "reason", "lag"));
        Assert.Equal(1, metrics.Sum("scaling.data.replica.readmissions"));
        await using var back = await data.OpenReadConnectionAsync();
        Assert.Equal(_servers.Shard1Replica.Port, await DataTestKit.ServerPortAsync(back));
    }

    [Fact]
    public async Task A_replica_restarted_while_the_primary_is_idle_is_readmitted_with_no_lag_however_old_its_last_commit()
    {
        // After a restart the replica's receive position is the start of its WAL segment, behind its replay position, and
        // its last replayed commit is as old as the primary's last write. Nothing is waiting to be replayed, so it is not
        // lagging, and it must be readmitted without anyone writing on the primary (the CI failure this test reproduces).
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY");
        await _servers.Shard1Primary.ExecuteAsync($"INSERT INTO {table} VALUES (1)");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o =>
        {
            o.MaxReplicaLagTime = TimeSpan.FromSeconds(1);
            o.ReadmitAfterHealthyChecks = 2;
        })));
        await Eventually.TrueAsync(
            async () => (await _servers.Shard1Replica.GetReplayLsnAsync()) >= await _servers.Shard1Primary.GetCurrentWalLsnAsync(),
            TimeSpan.FromSeconds(20),
            "the replica to catch up");
        await Task.Delay(TimeSpan.FromSeconds(2.5)); // the last commit is now older than MaxReplicaLagTime

        await _servers.Shard1Replica.KillAsync();
        try
        {
            await data.CheckReplicasAsync();
            Assert.Equal(ReplicaHealth.Ejected, data.GetReplicaStatuses()[0].Health);
        }
        finally
        {
            await _servers.Shard1Replica.RestartAsync();
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        ReplicaStatus status;
        do
        {
            await Task.Delay(200);
            await data.CheckReplicasAsync();
            status = data.GetReplicaStatuses()[0];
        }
        while (status.Health != ReplicaHealth.Healthy && DateTime.UtcNow < deadline);

        Assert.True(
            status.Health == ReplicaHealth.Healthy,
            $"the restarted replica stayed {status.Health} ({status.Reason}); lag {status.LagBytes} bytes / {status.LagTime}");
        Assert.Equal(0, status.LagBytes);
        Assert.Equal(TimeSpan.Zero, status.LagTime);
    }

    [Fact]
    public async Task Killing_the_replica_under_load_fails_no_read_and_it_is_readmitted_after_a_restart()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY");
        await _servers.Shard1Primary.ExecuteAsync($"INSERT INTO {table} SELECT g FROM generate_series(1, 100) g");
        await Eventually.TrueAsync(
            async () => await _servers.Shard1Replica.ScalarAsync<long>($"SELECT count(*) FROM {table}") == 100,
            TimeSpan.FromSeconds(20),
            "the rows to reach the replica");

        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));
        using var monitorStop = new CancellationTokenSource();
        var monitor = data.MonitorAsync(monitorStop.Token);
        await Eventually.TrueAsync(() => Task.FromResult(data.GetReplicaStatuses()[0].Health == ReplicaHealth.Healthy), TimeSpan.FromSeconds(10), "the replica to be healthy");

        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var servedBy = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        var reads = 0;
        using var loadStop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (!loadStop.IsCancellationRequested)
            {
                try
                {
                    var (port, count) = await data.ReadAsync(async (connection, ct) =>
                    {
                        await using var command = new NpgsqlCommand($"SELECT inet_server_port(), count(*) FROM {table}", connection);
                        await using var reader = await command.ExecuteReaderAsync(ct);
                        await reader.ReadAsync(ct);
                        return (reader.GetInt32(0), reader.GetInt64(1));
                    });
                    Assert.Equal(100, count);
                    servedBy.AddOrUpdate(port, 1, (_, n) => n + 1);
                    Interlocked.Increment(ref reads);
                }
#pragma warning disable CA1031 // the test counts every failure
                catch (Exception e)
#pragma warning restore CA1031
                {
                    failures.Enqueue(e);
                }
            }
        })).ToArray();

        try
        {
            await Task.Delay(500);
            await _servers.Shard1Replica.KillAsync();
            await Eventually.TrueAsync(() => Task.FromResult(data.GetReplicaStatuses()[0].Health == ReplicaHealth.Ejected), TimeSpan.FromSeconds(10), "the killed replica to be ejected");
            var readsAtEjection = Volatile.Read(ref reads);
            var primaryReadsAtEjection = servedBy.GetValueOrDefault(_servers.Shard1Primary.Port);
            await Task.Delay(1000);
            Assert.True(Volatile.Read(ref reads) > readsAtEjection, "reads continue while the replica is down");
            Assert.True(servedBy.GetValueOrDefault(_servers.Shard1Primary.Port) > primaryReadsAtEjection, "the primary serves the reads while the replica is down");

            await _servers.Shard1Replica.RestartAsync();
            await Eventually.TrueAsync(() => Task.FromResult(data.GetReplicaStatuses()[0].Health == ReplicaHealth.Healthy), TimeSpan.FromSeconds(30), "the restarted replica to be readmitted");
            var replicaReadsAtReadmission = servedBy.GetValueOrDefault(_servers.Shard1Replica.Port);
            await Eventually.TrueAsync(
                () => Task.FromResult(servedBy.GetValueOrDefault(_servers.Shard1Replica.Port) > replicaReadsAtReadmission + 10),
                TimeSpan.FromSeconds(10),
                "reads to go to the readmitted replica again");
        }
        finally
        {
            await loadStop.CancelAsync();
            await Task.WhenAll(workers);
            await monitorStop.CancelAsync();
            await monitor;
            if (_servers.Shard1Replica.State != ServerState.Running)
            {
                await _servers.Shard1Replica.RestartAsync();
            }
        }

        Assert.Empty(failures);
        Assert.True(reads > 100, $"only {reads} reads ran");
    }
}
