using System.Diagnostics;
using Scaling.Testing;
using Xunit.Abstractions;

namespace Scaling.Locks.Tests;

/// <summary>Mutual exclusion under contention and with masters killed or paused, on real servers.</summary>
[Collection(ServersCollection.Name)]
public sealed class RedlockSafetyTests(ServersFixture fixture, ITestOutputHelper output)
{
    private const int Processes = 4;
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task Sixty_four_contending_workers_never_overlap()
    {
        const int WorkersPerProcess = 16;
        const int Iterations = 16;
        var providers = await Task.WhenAll(Enumerable.Range(0, Processes).Select(_ => LockTestKit.Provider(_servers).WarmAsync()));
        var guard = new CriticalSectionGuard();
        var resource = LockTestKit.Resource("contended");
        try
        {
            var stopwatch = Stopwatch.StartNew();
            var workers = providers.SelectMany(p => Enumerable.Range(0, WorkersPerProcess).Select(_ => Task.Run(async () =>
            {
                for (var i = 0; i < Iterations; i++)
                {
                    await guard.RunOnceAsync(p, resource, TimeSpan.FromSeconds(30));
                }
            })));
            await Task.WhenAll(workers);
            output.WriteLine($"{guard.Entries} critical sections by 64 workers in {stopwatch.Elapsed.TotalSeconds:0.0} s, {guard.Attempts} attempts");

            Assert.Equal(0, guard.Overlaps);
            Assert.Equal(0, guard.NotAcquired);
            Assert.Equal(64 * Iterations, guard.Entries);
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
    public async Task With_one_master_killed_mid_run_locks_are_still_granted_and_exclusive()
    {
        const int WorkersPerProcess = 8;
        var providers = await Task.WhenAll(Enumerable.Range(0, Processes).Select(_ => LockTestKit.Provider(_servers).WarmAsync()));
        var guard = new CriticalSectionGuard();
        var resource = LockTestKit.Resource("killed-mid-run");
        var victim = _servers.Redis[1];
        using var stop = new CancellationTokenSource();
        try
        {
            var workers = providers.SelectMany(p => Enumerable.Range(0, WorkersPerProcess).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    await guard.RunOnceAsync(p, resource, TimeSpan.FromSeconds(10));
                }
            }))).ToArray();

            await Eventually.TrueAsync(() => Task.FromResult(guard.Entries >= 50), TimeSpan.FromSeconds(20), "50 critical sections before the kill");
            await victim.KillAsync();
            var atKill = guard.Entries;
            await Eventually.TrueAsync(() => Task.FromResult(guard.Entries >= atKill + 150), TimeSpan.FromSeconds(30), "150 critical sections after the kill");
            await stop.CancelAsync();
            await Task.WhenAll(workers);
            output.WriteLine($"{atKill} critical sections before the kill, {guard.Entries - atKill} after; {guard.Attempts} attempts, {guard.NotAcquired} timed out");

            Assert.Equal(0, guard.Overlaps);
        }
        finally
        {
            await stop.CancelAsync();
            await victim.RestartAsync();
            foreach (var provider in providers)
            {
                await provider.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task With_two_of_three_masters_killed_nothing_is_granted()
    {
        await using var provider = await LockTestKit.Provider(_servers).WarmAsync();
        await using var probe = await RedisProbe.ConnectAsync(_servers);
        var resource = LockTestKit.Resource("no-quorum");
        var ttl = TimeSpan.FromSeconds(10);
        try
        {
            await Task.WhenAll(_servers.Redis[0].KillAsync(), _servers.Redis[1].KillAsync());

            var result = await provider.TryAcquireDetailedAsync(resource, ttl, TimeSpan.FromMilliseconds(500));

            Assert.Equal(LockAttemptStatus.NoQuorum, result.Status);
            Assert.Null(result.Handle);
            Assert.True(result.Attempts > 1, "it retried within the wait");
            Assert.All(result.Nodes.Take(2), n => Assert.NotEqual(LockNodeOutcome.Granted, n.Outcome));
            // The surviving master may have granted its part; that grant was released (a release the node timeout did
            // not wait for lands a moment later; without one the grant would stay for the 10 s TTL).
            await Eventually.TrueAsync(async () => (await probe.Master(2).StringGetAsync("lock:" + resource)).IsNull, TimeSpan.FromSeconds(3), "the surviving master's grant released");

            var timeout = await Assert.ThrowsAsync<LockTimeoutException>(() => provider.AcquireAsync(resource, ttl, TimeSpan.FromMilliseconds(200)));
            Assert.Contains("NoQuorum", timeout.Message, StringComparison.Ordinal);

            // A provider started while the two masters are down does not block and grants nothing either.
            var started = Stopwatch.StartNew();
            await using var late = LockTestKit.Provider(_servers);
            Assert.Null(await late.TryAcquireAsync(resource, ttl, TimeSpan.FromMilliseconds(300)));
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(3), $"took {started.Elapsed}");
            await Eventually.TrueAsync(async () => (await probe.Master(2).StringGetAsync("lock:" + resource)).IsNull, TimeSpan.FromSeconds(3), "the surviving master's grant released");
        }
        finally
        {
            await Task.WhenAll(_servers.Redis[0].RestartAsync(), _servers.Redis[1].RestartAsync());
        }

        // Back to a quorum: granted again.
        await Eventually.TrueAsync(
            async () =>
            {
                var handle = await provider.TryAcquireAsync(resource, ttl, TimeSpan.FromMilliseconds(200));
                if (handle is null)
                {
                    return false;
                }

                await handle.DisposeAsync();
                return true;
            },
            TimeSpan.FromSeconds(15),
            "the lock granted again after the masters came back");
    }

    [Fact]
    public async Task A_master_down_at_start_up_does_not_block_and_the_quorum_still_grants()
    {
        var victim = _servers.Redis[1];
        try
        {
            await victim.KillAsync();
            var stopwatch = Stopwatch.StartNew();
            await using var provider = LockTestKit.Provider(_servers);

            var result = await provider.TryAcquireDetailedAsync(LockTestKit.Resource("down-at-start"), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5));

            Assert.Equal(LockAttemptStatus.Acquired, result.Status);
            Assert.NotEqual(LockNodeOutcome.Granted, result.Nodes[1].Outcome);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(3), $"took {stopwatch.Elapsed}");
            await result.Handle!.DisposeAsync();
        }
        finally
        {
            await victim.RestartAsync();
        }
    }

    [Fact]
    public async Task With_one_master_down_a_held_lock_is_reported_Conflicted_not_NoQuorum()
    {
        await using var holder = await LockTestKit.Provider(_servers).WarmAsync();
        await using var other = await LockTestKit.Provider(_servers).WarmAsync();
        var victim = _servers.Redis[1];
        var resource = LockTestKit.Resource("conflicted-degraded");
        try
        {
            await victim.KillAsync();
            await using var held = await holder.AcquireAsync(resource, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5));

            var result = await other.TryAcquireDetailedAsync(resource, TimeSpan.FromSeconds(10), TimeSpan.Zero);

            Assert.Equal(LockAttemptStatus.Conflicted, result.Status);
            Assert.Null(result.Handle);
            Assert.NotEqual(LockNodeOutcome.Granted, result.Nodes[1].Outcome);
        }
        finally
        {
            await victim.RestartAsync();
        }
    }

    [Fact]
    public async Task A_paused_master_is_tolerated_within_the_acquire_timeout()
    {
        await using var provider = await LockTestKit.Provider(_servers).WarmAsync();
        await using var contender = await LockTestKit.Provider(_servers).WarmAsync();
        var paused = _servers.Redis[2];
        var resource = LockTestKit.Resource("paused");
        var ttl = TimeSpan.FromSeconds(5);
        var wait = TimeSpan.FromSeconds(2);
        try
        {
            await paused.PauseAsync();

            for (var i = 0; i < 5; i++)
            {
                var stopwatch = Stopwatch.StartNew();
                var result = await provider.TryAcquireDetailedAsync(resource, ttl, wait);
                Assert.Equal(LockAttemptStatus.Acquired, result.Status);
                Assert.True(stopwatch.Elapsed < wait, $"acquired after {stopwatch.Elapsed}, beyond the wait of {wait}");
                Assert.NotEqual(LockNodeOutcome.Granted, result.Nodes[2].Outcome);
                Assert.Equal(LockAttemptStatus.Conflicted, (await contender.TryAcquireDetailedAsync(resource, ttl, TimeSpan.Zero)).Status);
                stopwatch.Restart();
                await result.Handle!.DisposeAsync();
                Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"release took {stopwatch.Elapsed}");
            }

            // A provider created while the master is paused (its connection hangs) is not blocked either.
            var late = Stopwatch.StartNew();
            await using var fresh = LockTestKit.Provider(_servers);
            await using var handle = await fresh.AcquireAsync(resource, ttl, wait);
            Assert.True(late.Elapsed < wait + TimeSpan.FromSeconds(1), $"took {late.Elapsed}");
        }
        finally
        {
            await paused.ResumeAsync();
        }
    }

    /// <summary>Counts entries into the critical section and any overlap between holders.</summary>
    private sealed class CriticalSectionGuard
    {
        private int _inside;
        private int _overlaps;
        private int _entries;
        private int _attempts;
        private int _notAcquired;

        public int Overlaps => Volatile.Read(ref _overlaps);

        public int Entries => Volatile.Read(ref _entries);

        public int Attempts => Volatile.Read(ref _attempts);

        public int NotAcquired => Volatile.Read(ref _notAcquired);

        public async Task RunOnceAsync(RedlockProvider provider, string resource, TimeSpan wait)
        {
            var result = await provider.TryAcquireDetailedAsync(resource, TimeSpan.FromSeconds(5), wait);
            Interlocked.Add(ref _attempts, result.Attempts);
            if (result.Handle is not { } handle)
            {
                Interlocked.Increment(ref _notAcquired);
                return;
            }

            await using (handle)
            {
                if (Interlocked.Increment(ref _inside) != 1)
                {
                    Interlocked.Increment(ref _overlaps);
                }

                Interlocked.Increment(ref _entries);
                await Task.Delay(1); // the protected work: long enough for another holder to be caught
                if (handle.LostToken.IsCancellationRequested)
                {
                    Interlocked.Increment(ref _overlaps); // lost while working: exclusion was not guaranteed
                }

                Interlocked.Decrement(ref _inside);
            }
        }
    }
}
