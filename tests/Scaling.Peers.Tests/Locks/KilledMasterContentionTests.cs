using System.Diagnostics;
using Scaling.Testing;
using Xunit.Abstractions;

namespace Scaling.Peers.Tests.Locks;

/// <summary>
/// 64 workers (4 "processes" of 16, each process with its own connections) contend for one resource, acquiring,
/// working about a millisecond and releasing in a loop; one of the three masters is killed (SIGKILL) mid-run and
/// restarted only after the run. The same TTL (5 s) and the same run for ours, RedLock.net and DistributedLock.Redis:
/// overlapping holders are counted in-process (<see cref="HolderLog"/>), and how many critical sections each completes
/// after the kill.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class KilledMasterContentionTests(ServersFixture fixture, ITestOutputHelper output)
{
    private const int Processes = 4;
    private const int WorkersPerProcess = 16;
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan BeforeKill = TimeSpan.FromSeconds(1.5);
    private static readonly TimeSpan AfterKill = TimeSpan.FromSeconds(2);
    private readonly TestServers _servers = fixture.Servers;

    private IEnumerable<string> EndPoints => _servers.Redis.Select(r => r.EndPoint);

    [Fact]
    public async Task Ours_never_overlaps_and_keeps_granting_with_one_master_killed()
    {
        var providers = Enumerable.Range(0, Processes).Select(_ => LockPeers.Ours(EndPoints)).ToArray();
        var resource = LockPeers.Resource("killed-ours");
        try
        {
            // One acquisition per process first (ours connects in the background; the peers get their multiplexers connected).
            await Task.WhenAll(providers.Select(async p => await (await p.AcquireAsync(LockPeers.Resource("warm-up"), Ttl, Wait)).DisposeAsync()));
            var (before, after) = await RunAsync(providers.Select<Scaling.Locks.RedlockProvider, Func<HolderLog, CancellationToken, Task>>(p => async (log, stop) =>
            {
                var handle = await p.TryAcquireAsync(resource, Ttl, Wait, stop);
                if (handle is null)
                {
                    log.Missed();
                    return;
                }

                await using (handle)
                {
                    await log.HoldAsync(() => handle.LostToken.IsCancellationRequested);
                }
            }));

            Assert.Equal(0, after.Overlaps);
            Assert.Equal(0, after.LostWhileHeld);
            Assert.True(after.Entries - before > 0, "nothing was granted after the kill");
        }
        finally
        {
            foreach (var provider in providers)
            {
                await provider.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task RedLockNet_never_overlaps_with_one_master_killed()
    {
        var masters = await Task.WhenAll(Enumerable.Range(0, Processes).Select(_ => Masters.ConnectAsync(EndPoints)));
        var factories = masters.Select(LockPeers.RedLockNet).ToArray();
        var resource = LockPeers.Resource("killed-redlocknet");
        try
        {
            // One acquisition per process first, as for ours: scripts loaded, connections proven.
            await Task.WhenAll(factories.Select(async f => await (await f.CreateLockAsync(LockPeers.Resource("warm-up"), Ttl)).DisposeAsync()));
            var (before, after) = await RunAsync(factories.Select<RedLockNet.SERedis.RedLockFactory, Func<HolderLog, CancellationToken, Task>>(f => async (log, stop) =>
            {
                await using var redLock = await f.CreateLockAsync(resource, Ttl, Wait, TimeSpan.FromMilliseconds(50), stop);
                if (!redLock.IsAcquired)
                {
                    log.Missed();
                    return;
                }

                await log.HoldAsync(() => !redLock.IsAcquired);
            }));

            Assert.Equal(0, after.Overlaps);
        }
        finally
        {
            foreach (var factory in factories)
            {
                factory.Dispose();
            }

            foreach (var connections in masters)
            {
                await connections.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task DistributedLock_never_overlaps_and_keeps_granting_with_one_master_killed()
    {
        var masters = await Task.WhenAll(Enumerable.Range(0, Processes).Select(_ => Masters.ConnectAsync(EndPoints)));
        var resource = LockPeers.Resource("killed-distributedlock");
        try
        {
            // One acquisition per process first, as for ours.
            await Task.WhenAll(masters.Select(async m => await (await LockPeers.DistributedLock(m, LockPeers.Resource("warm-up"), Ttl).AcquireAsync()).DisposeAsync()));
            var (before, after) = await RunAsync(masters.Select<Masters, Func<HolderLog, CancellationToken, Task>>(m => async (log, stop) =>
            {
                await using var handle = await LockPeers.DistributedLock(m, resource, Ttl).TryAcquireAsync(Wait, stop);
                if (handle is null)
                {
                    log.Missed();
                    return;
                }

                await log.HoldAsync(() => handle.HandleLostToken.IsCancellationRequested);
            }));

            Assert.Equal(0, after.Overlaps);
            Assert.Equal(0, after.LostWhileHeld);
            Assert.True(after.Entries - before > 0, "nothing was granted after the kill");
        }
        finally
        {
            foreach (var connections in masters)
            {
                await connections.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Runs 16 workers per process, each repeating <paramref name="processes"/>' cycle until stopped; kills master 2
    /// after <see cref="BeforeKill"/>, stops after <see cref="AfterKill"/> more, waits for every worker, then restarts the
    /// master and waits until it answers. Returns the critical sections before the kill and the final log.
    /// </summary>
    private async Task<(int BeforeKill, HolderLog Log)> RunAsync(IEnumerable<Func<HolderLog, CancellationToken, Task>> processes)
    {
        var log = new HolderLog();
        var victim = _servers.Redis[1];
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var workers = processes.SelectMany(cycle => Enumerable.Range(0, WorkersPerProcess).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await cycle(log, stop.Token);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.Missed(); // a library that throws instead of reporting "not acquired"
                }
            }
        }))).ToArray();
        try
        {
            await Task.Delay(BeforeKill);
            var atKill = log.Entries;
            await victim.KillAsync();
            var killedAt = clock.Elapsed;
            await Task.Delay(AfterKill);
            var beforeStop = log.Entries;
            await stop.CancelAsync();
            await Task.WhenAll(workers);
            output.WriteLine(
                $"{atKill} critical sections before the kill, {beforeStop - atKill} in the {AfterKill.TotalSeconds:0.#} s after it; " +
                $"in all {log}; the last worker stopped {(clock.Elapsed - killedAt - AfterKill).TotalSeconds:0.0} s after the stop");
            return (atKill, log);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(_ => { }, TaskScheduler.Default);
            await victim.RestartAsync();
            Assert.Equal("PONG", await victim.PingAsync(TimeSpan.FromSeconds(5)));
        }
    }
}
