using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Scaling.Testing;

namespace Scaling.Data.Tests;

/// <summary>
/// A server that is connected but silent (SIGSTOP: a VM pause, a partition that drops packets, a stuck disk) is the
/// nastier fault: nothing is refused, everything waits. These tests pause the real servers under load and hold the
/// data source to its bound: a decision within <see cref="ScalingDataOptions.HealthCheckTimeout"/> plus one probe
/// interval, callers of the work in flight on the silent server released at once, and recovery by itself after the
/// resume.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class PausedServerTests(ServersFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromMilliseconds(250);

    // Detection (probe timeout + one interval) + a retry on another server, with room for a loaded 2-core machine. The command timeout (30 s) and connect timeout (5 s) are far above it, so a read that
    // waited on them fails this bound.
    private static readonly TimeSpan ReadBound = TimeSpan.FromSeconds(4.5);

    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task A_paused_replica_is_ejected_within_its_probe_timeout_no_read_waits_on_it_none_is_stale_and_it_is_readmitted_after_the_resume()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id bigserial PRIMARY KEY, worker int NOT NULL");
        await using var data = new ReadWriteDataSource(Options.Create(Slow(DataTestKit.Shard1(_servers, Bounded))));
        using var monitorStop = new CancellationTokenSource();
        var monitor = data.MonitorAsync(monitorStop.Token);
        await Eventually.TrueAsync(() => Task.FromResult(data.GetReplicaStatuses()[0].Health == ReplicaHealth.Healthy), TimeSpan.FromSeconds(10), "the replica to be healthy");

        var failures = new ConcurrentQueue<Exception>();
        var stale = 0;
        var reads = new ConcurrentQueue<(long At, TimeSpan Took, int Port)>();
        var clock = Stopwatch.StartNew();
        using var loadStop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
        {
            while (!loadStop.IsCancellationRequested)
            {
                try
                {
                    // Half the workers read what they just wrote, with its token; the others read without one, so
                    // the replica carries reads when the pause comes.
                    ConsistencyToken? token = null;
                    long id = 0;
                    if (worker % 2 == 0)
                    {
                        var written = await data.WriteAsync(async (tx, ct) =>
                        {
                            await using var insert = new NpgsqlCommand($"INSERT INTO {table} (worker) VALUES ({worker}) RETURNING id", tx.Connection, tx);
                            return (long)(await insert.ExecuteScalarAsync(ct))!;
                        });
                        (id, token) = (written.Value, written.Token);
                    }

                    var started = clock.Elapsed;
                    var (port, found) = await data.ReadAsync(
                        async (connection, ct) =>
                        {
                            await using var command = new NpgsqlCommand($"SELECT inet_server_port(), count(*) FROM {table} WHERE id = {id}", connection);
                            await using var reader = await command.ExecuteReaderAsync(ct);
                            await reader.ReadAsync(ct);
                            return (reader.GetInt32(0), reader.GetInt64(1));
                        },
                        token);
                    reads.Enqueue((clock.ElapsedTicks, clock.Elapsed - started, port));
                    if (token is not null && found != 1)
                    {
                        Interlocked.Increment(ref stale);
                    }
                }
#pragma warning disable CA1031 // the test counts every failure
                catch (Exception e)
#pragma warning restore CA1031
                {
                    failures.Enqueue(e);
                }
            }
        })).ToArray();

        TimeSpan pausedAt, ejectedAt;
        try
        {
            await Eventually.TrueAsync(() => Task.FromResult(reads.Count(r => r.Port == _servers.Shard1Replica.Port) > 20), TimeSpan.FromSeconds(10), "the replica to serve reads");
            pausedAt = clock.Elapsed;
            await _servers.Shard1Replica.PauseAsync();
            await Eventually.TrueAsync(() => Task.FromResult(data.GetReplicaStatuses()[0].Health == ReplicaHealth.Ejected), TimeSpan.FromSeconds(15), "the paused replica to be ejected");
            ejectedAt = clock.Elapsed;
            Assert.Contains("answer", data.GetReplicaStatuses()[0].Reason, StringComparison.Ordinal);
            await Task.Delay(TimeSpan.FromSeconds(4)); // longer than the connect timeout of a pooled-out connection would take to show
            var readsWhilePaused = reads.Count;
            await Task.Delay(500);
            Assert.True(reads.Count > readsWhilePaused, "reads go on while the replica is paused");

            await _servers.Shard1Replica.ResumeAsync();
            await Eventually.TrueAsync(() => Task.FromResult(data.GetReplicaStatuses()[0].Health == ReplicaHealth.Healthy), TimeSpan.FromSeconds(30), "the resumed replica to be readmitted");
            var onReplica = reads.Count(r => r.Port == _servers.Shard1Replica.Port);
            await Eventually.TrueAsync(() => Task.FromResult(reads.Count(r => r.Port == _servers.Shard1Replica.Port) > onReplica + 10), TimeSpan.FromSeconds(10), "reads to go to the resumed replica again");
        }
        finally
        {
            await loadStop.CancelAsync();
            await Task.WhenAll(workers);
            await monitorStop.CancelAsync();
            await monitor;
            if (_servers.Shard1Replica.State == ServerState.Paused)
            {
                await _servers.Shard1Replica.ResumeAsync();
            }
        }

        Assert.Empty(failures);
        Assert.Equal(0, stale);
        var decision = ejectedAt - pausedAt;
        Assert.True(decision <= ProbeTimeout + ProbeInterval + TimeSpan.FromSeconds(1.5), $"the ejection took {decision.TotalMilliseconds:0} ms after the pause");
        var slowest = reads.Max(r => r.Took);
        Assert.True(slowest <= ReadBound, $"the slowest read took {slowest.TotalMilliseconds:0} ms (bound {ReadBound.TotalMilliseconds:0} ms)");
    }

    [Fact]
    public async Task A_paused_primary_fails_writes_fast_within_the_bound_and_writes_succeed_again_by_themselves_after_the_resume()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id bigserial PRIMARY KEY");
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Debug));
        await using var data = new ReadWriteDataSource(Options.Create(Slow(DataTestKit.Shard1(_servers, Bounded))), loggerFactory);
        using var monitorStop = new CancellationTokenSource();
        var monitor = data.MonitorAsync(monitorStop.Token);

        var acknowledged = new ConcurrentQueue<long>();
        var outcomes = new ConcurrentQueue<(TimeSpan At, TimeSpan Took, Exception? Error)>();
        var clock = Stopwatch.StartNew();
        using var loadStop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!loadStop.IsCancellationRequested)
            {
                var started = clock.Elapsed;
                try
                {
                    var written = await data.WriteAsync(async (tx, ct) =>
                    {
                        await using var insert = new NpgsqlCommand($"INSERT INTO {table} DEFAULT VALUES RETURNING id", tx.Connection, tx);
                        return (long)(await insert.ExecuteScalarAsync(ct))!;
                    });
                    acknowledged.Enqueue(written.Value);
                    outcomes.Enqueue((started, clock.Elapsed - started, null));
                }
#pragma warning disable CA1031 // the test classifies every failure
                catch (Exception e)
#pragma warning restore CA1031
                {
                    outcomes.Enqueue((started, clock.Elapsed - started, e));
                    await Task.Delay(20);
                }
            }
        })).ToArray();

        TimeSpan resumedAt;
        try
        {
            await Eventually.TrueAsync(() => Task.FromResult(acknowledged.Count > 20), TimeSpan.FromSeconds(10), "writes to run");
            await _servers.Shard1Primary.PauseAsync();
            await Task.Delay(TimeSpan.FromSeconds(6));
            Assert.Contains(outcomes, o => o.Error is PrimaryUnavailableException);
            resumedAt = clock.Elapsed;
            await _servers.Shard1Primary.ResumeAsync();
            await Eventually.TrueAsync(
                () => Task.FromResult(outcomes.Any(o => o.Error is null && o.At > resumedAt)),
                TimeSpan.FromSeconds(15),
                "writes to succeed again after the resume");
        }
        finally
        {
            foreach (var entry in logs.Entries.Where(e => e.Category.StartsWith("Scaling", StringComparison.Ordinal)))
            {
                output.WriteLine($"{entry.Level} {entry.Message}");
            }

            await loadStop.CancelAsync();
            await Task.WhenAll(workers);
            await monitorStop.CancelAsync();
            await monitor;
            if (_servers.Shard1Primary.State == ServerState.Paused)
            {
                await _servers.Shard1Primary.ResumeAsync();
            }
        }

        // Every write was answered within the bound: a success, or a fast failure the caller can tell apart
        // (PrimaryUnavailableException: nothing was sent; a TimeoutException: the primary stopped answering mid-write,
        // outcome unknown, as for any connection lost during a transaction).
        var slowest = outcomes.Max(o => o.Took);
        Assert.True(slowest <= ReadBound, $"the slowest write took {slowest.TotalMilliseconds:0} ms (bound {ReadBound.TotalMilliseconds:0} ms)");
        Assert.All(outcomes.Where(o => o.Error is not null), o => Assert.True(
            o.Error is PrimaryUnavailableException || (o.Error is TimeoutException t && t.Message.Contains("stopped answering", StringComparison.Ordinal)),
            $"unexpected failure: {o.Error}"));

        // Nothing acknowledged is lost.
        var ids = string.Join(',', acknowledged);
        Assert.Equal(acknowledged.Count, await _servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE id IN ({ids})"));
    }

    private static void Bounded(ScalingDataOptions options)
    {
        options.HealthCheckTimeout = ProbeTimeout;
        options.HealthCheckInterval = ProbeInterval;
        options.ReadmitAfterHealthyChecks = 2;
    }

    /// <summary>Long command and connect timeouts: a wait that only they bounded would break the tests' bound.</summary>
    private static ScalingDataOptions Slow(ScalingDataOptions options)
    {
        options.CommandTimeout = TimeSpan.FromSeconds(30);
        options.ConnectTimeout = TimeSpan.FromSeconds(10);
        return options;
    }
}
