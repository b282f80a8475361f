using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Scaling.Testing;

namespace Scaling.Locks.Tests;

[Collection(ServersCollection.Name)]
public sealed class RedlockTests(ServersFixture fixture) : IAsyncLifetime
{
    private readonly Testing.TestServers _servers = fixture.Servers;
    private RedisProbe _probe = null!;

    public async Task InitializeAsync() => _probe = await RedisProbe.ConnectAsync(_servers);

    public async Task DisposeAsync() => await _probe.DisposeAsync();

    [Fact]
    public async Task Acquire_sets_the_key_on_every_master_and_release_deletes_it()
    {
        await using var provider = await LockTestKit.Provider(_servers).WarmAsync();
        var resource = LockTestKit.Resource("acquire-release");

        var result = await provider.TryAcquireDetailedAsync(resource, TimeSpan.FromSeconds(10), TimeSpan.Zero);

        Assert.Equal(LockAttemptStatus.Acquired, result.Status);
        Assert.NotNull(result.Handle);
        Assert.Equal(resource, result.Handle.Resource);
        Assert.Equal(3, result.Nodes.Count);
        Assert.True(result.Nodes.Count(n => n.Outcome == LockNodeOutcome.Granted) >= 2, string.Join(", ", result.Nodes));
        Assert.Null(result.Handle.FencingToken);
        await Eventually.TrueAsync(
            async () => (await _probe.GetAllAsync(resource)).All(v => v is { Length: 32 }),
            TimeSpan.FromSeconds(2),
            "the lock key (a 32-hex-digit random value) on all three masters");
        var values = await _probe.GetAllAsync(resource);
        Assert.Single(values.Distinct());

        await result.Handle.DisposeAsync();

        Assert.True((await _probe.GetAllAsync(resource)).Count(v => v is null) >= 2, "a majority released when DisposeAsync returns");
        await AllReleasedAsync(resource);
        Assert.True(result.Handle.LostToken.IsCancellationRequested, "a released handle's LostToken is cancelled");
        Assert.False(result.Handle.IsLost);
        await result.Handle.DisposeAsync(); // twice is harmless
    }

    [Fact]
    public async Task Release_stops_the_extension_loop_without_throwing()
    {
        // An exception per release is CPU every lock pays (a queue transition takes one per request): the loop's wait
        // must end quietly. First-chance exceptions thrown on the loop's own stack are counted (other tests run alongside).
        await using var provider = await LockTestKit.Provider(_servers).WarmAsync();
        var thrown = 0;
        void OnFirstChance(object? sender, FirstChanceExceptionEventArgs e)
        {
            if (e.Exception is OperationCanceledException && Environment.StackTrace.Contains("RunExtensionLoopAsync", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref thrown);
            }
        }

        AppDomain.CurrentDomain.FirstChanceException += OnFirstChance;
        try
        {
            for (var i = 0; i < 10; i++)
            {
                var handle = await provider.AcquireAsync(LockTestKit.Resource("quiet-release-" + i), TimeSpan.FromSeconds(30), TimeSpan.Zero);
                await handle.DisposeAsync();
                Assert.True(handle.LostToken.IsCancellationRequested, "a released handle's LostToken is cancelled");
            }
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= OnFirstChance;
        }

        Assert.Equal(0, Volatile.Read(ref thrown));
    }

    [Fact]
    public async Task Validity_deadline_is_ttl_minus_elapsed_minus_drift()
    {
        await using var provider = await LockTestKit.Provider(_servers).WarmAsync();
        var ttl = TimeSpan.FromSeconds(10);

        var before = DateTimeOffset.UtcNow;
        await using var handle = await provider.AcquireAsync(LockTestKit.Resource("validity"), ttl, TimeSpan.Zero);
        var after = DateTimeOffset.UtcNow;

        Assert.True(handle.ValidUntil <= after + ttl - RedlockTiming.ClockDrift(ttl), $"{handle.ValidUntil:O} is later than {after + ttl:O} minus drift");
        Assert.True(handle.ValidUntil > before + ttl - RedlockTiming.ClockDrift(ttl) - TimeSpan.FromSeconds(1), $"{handle.ValidUntil:O} is implausibly early");
        Assert.False(handle.LostToken.IsCancellationRequested);
    }

    [Fact]
    public async Task A_second_acquirer_is_Conflicted_while_the_lock_is_held()
    {
        await using var holder = await LockTestKit.Provider(_servers).WarmAsync();
        await using var other = await LockTestKit.Provider(_servers).WarmAsync();
        var resource = LockTestKit.Resource("conflicted");
        var ttl = TimeSpan.FromSeconds(10);
        await using var held = await holder.AcquireAsync(resource, ttl, TimeSpan.Zero);
        var heldValues = await SettledValuesAsync(resource);

        var once = await other.TryAcquireDetailedAsync(resource, ttl, TimeSpan.Zero);
        Assert.Equal(LockAttemptStatus.Conflicted, once.Status);
        Assert.Null(once.Handle);
        Assert.Equal(1, once.Attempts);
        Assert.True(once.Nodes.Count(n => n.Outcome == LockNodeOutcome.Conflicted) >= 2, string.Join(", ", once.Nodes));

        var stopwatch = Stopwatch.StartNew();
        Assert.Null(await other.TryAcquireAsync(resource, ttl, TimeSpan.FromMilliseconds(300)));
        Assert.True(stopwatch.Elapsed >= TimeSpan.FromMilliseconds(290), $"gave up after {stopwatch.Elapsed} instead of retrying for the wait");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2), $"took {stopwatch.Elapsed} for a 300 ms wait");

        var timeout = await Assert.ThrowsAsync<LockTimeoutException>(() => other.AcquireAsync(resource, ttl, TimeSpan.FromMilliseconds(100)));
        Assert.Contains(resource, timeout.Message, StringComparison.Ordinal);
        Assert.Contains("within 100 ms", timeout.Message, StringComparison.Ordinal);
        Assert.Contains("Conflicted", timeout.Message, StringComparison.Ordinal);
        Assert.Equal(LockAttemptStatus.Conflicted, timeout.LastAttempt!.Status);
        Assert.True(timeout.LastAttempt.Attempts > 1);

        // The failed attempts left the holder's keys alone.
        Assert.Equal(heldValues, await _probe.GetAllAsync(resource));
        Assert.False(held.LostToken.IsCancellationRequested);
    }

    [Fact]
    public async Task The_lock_is_granted_to_a_waiter_once_released()
    {
        await using var provider = await LockTestKit.Provider(_servers).WarmAsync();
        var resource = LockTestKit.Resource("handover");
        var ttl = TimeSpan.FromSeconds(10);
        var first = await provider.AcquireAsync(resource, ttl, TimeSpan.Zero);

        var waiter = provider.TryAcquireAsync(resource, ttl, TimeSpan.FromSeconds(5));
        await Task.Delay(200);
        Assert.False(waiter.IsCompleted);
        await first.DisposeAsync();

        await using var second = await waiter;
        Assert.NotNull(second);
    }

    [Fact]
    public async Task Cancellation_stops_waiting_and_leaves_nothing_behind()
    {
        await using var provider = await LockTestKit.Provider(_servers).WarmAsync();
        var resource = LockTestKit.Resource("cancel");
        var ttl = TimeSpan.FromSeconds(10);
        await using var held = await provider.AcquireAsync(resource, ttl, TimeSpan.Zero);
        var heldValues = await SettledValuesAsync(resource);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        var stopwatch = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => provider.TryAcquireAsync(resource, ttl, TimeSpan.FromSeconds(30), cancel.Token));

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2), $"cancellation took {stopwatch.Elapsed}");
        Assert.Equal(heldValues, await _probe.GetAllAsync(resource));
    }

    [Fact]
    public async Task Release_after_loss_never_deletes_someone_elses_lock()
    {
        await using var provider = await LockTestKit.Provider(_servers, o => o.AutoExtend = false).WarmAsync();
        var resource = LockTestKit.Resource("release-after-loss");
        var handle = await provider.AcquireAsync(resource, TimeSpan.FromSeconds(10), TimeSpan.Zero);
        await SettledValuesAsync(resource);

        // Another owner's value replaces ours everywhere (as after an expiry and a new acquisition).
        for (var i = 0; i < 3; i++)
        {
            await _probe.Master(i).StringSetAsync("lock:" + resource, "someone-else", TimeSpan.FromSeconds(10));
        }

        Assert.False(await handle.ExtendAsync());
        Assert.True(handle.IsLost);
        Assert.True(handle.LostToken.IsCancellationRequested);
        await handle.DisposeAsync();

        Assert.All(await _probe.GetAllAsync(resource), v => Assert.Equal("someone-else", v));
    }

    [Fact]
    public async Task An_expired_holder_releasing_late_does_not_free_the_new_holders_lock()
    {
        await using var a = await LockTestKit.Provider(_servers, o => o.AutoExtend = false).WarmAsync();
        await using var b = await LockTestKit.Provider(_servers).WarmAsync();
        var resource = LockTestKit.Resource("late-release");
        var first = await a.AcquireAsync(resource, TimeSpan.FromMilliseconds(300), TimeSpan.Zero);
        await Task.Delay(450);
        Assert.True(first.IsLost);

        await using var second = await b.AcquireAsync(resource, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2));
        var secondValues = await SettledValuesAsync(resource);
        await first.DisposeAsync();

        Assert.Equal(secondValues, await _probe.GetAllAsync(resource));
        Assert.Equal(LockAttemptStatus.Conflicted, (await a.TryAcquireDetailedAsync(resource, TimeSpan.FromSeconds(1), TimeSpan.Zero)).Status);
        Assert.False(second.LostToken.IsCancellationRequested);
    }

    [Fact]
    public async Task LostToken_fires_when_the_keys_vanish_and_extension_fails()
    {
        await using var provider = await LockTestKit.Provider(_servers).WarmAsync();
        var resource = LockTestKit.Resource("lost-deleted");
        var ttl = TimeSpan.FromSeconds(3);
        await using var handle = await provider.AcquireAsync(resource, ttl, TimeSpan.Zero);
        var lost = new TaskCompletionSource();
        handle.LostToken.Register(() => lost.TrySetResult());
        await SettledValuesAsync(resource);

        for (var i = 0; i < 3; i++)
        {
            await _probe.Master(i).KeyDeleteAsync("lock:" + resource);
        }

        var stopwatch = Stopwatch.StartNew();
        await lost.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(handle.IsLost);
        // The first extension (a third of the TTL) notices it, well before the validity would have run out.
        Assert.True(stopwatch.Elapsed < ttl - TimeSpan.FromMilliseconds(500), $"lost noticed after {stopwatch.Elapsed}");
        Assert.False(await handle.ExtendAsync());
        Assert.All(await _probe.GetAllAsync(resource), Assert.Null); // the extension never re-creates a key
    }

    [Fact]
    public async Task LostToken_fires_when_validity_runs_out_without_extension()
    {
        await using var provider = await LockTestKit.Provider(_servers, o => o.AutoExtend = false).WarmAsync();
        var ttl = TimeSpan.FromSeconds(1);
        await using var handle = await provider.AcquireAsync(LockTestKit.Resource("lost-expired"), ttl, TimeSpan.Zero);
        var validUntil = handle.ValidUntil;

        await Task.Delay(100);
        Assert.False(handle.LostToken.IsCancellationRequested, "lost before its validity ran out");
        await Eventually.TrueAsync(() => Task.FromResult(handle.LostToken.IsCancellationRequested), TimeSpan.FromSeconds(3), "LostToken after the validity");
        Assert.True(DateTimeOffset.UtcNow >= validUntil - TimeSpan.FromMilliseconds(20), "LostToken fired before ValidUntil");
        Assert.True(handle.IsLost);
        Assert.False(await handle.ExtendAsync()); // lost stays lost
    }

    [Fact]
    public async Task Manual_extension_moves_the_deadline_forward()
    {
        await using var provider = await LockTestKit.Provider(_servers, o => o.AutoExtend = false).WarmAsync();
        var resource = LockTestKit.Resource("manual-extend");
        var ttl = TimeSpan.FromSeconds(2);
        await using var handle = await provider.AcquireAsync(resource, ttl, TimeSpan.Zero);
        var firstDeadline = handle.ValidUntil;

        await Task.Delay(1000);
        Assert.True(await handle.ExtendAsync());

        Assert.True(handle.ValidUntil > firstDeadline + TimeSpan.FromMilliseconds(900), $"{handle.ValidUntil:O} vs {firstDeadline:O}");
        await Task.Delay(1300); // past the first deadline
        Assert.False(handle.LostToken.IsCancellationRequested);
        Assert.All(await _probe.GetAllAsync(resource), v => Assert.NotNull(v));
    }

    [Fact]
    public async Task Automatic_extension_keeps_the_lock_beyond_its_ttl_and_stops_on_dispose()
    {
        await using var provider = await LockTestKit.Provider(_servers).WarmAsync();
        await using var other = await LockTestKit.Provider(_servers).WarmAsync();
        var resource = LockTestKit.Resource("auto-extend");
        var ttl = TimeSpan.FromMilliseconds(1500);
        var handle = await provider.AcquireAsync(resource, ttl, TimeSpan.Zero);
        var firstDeadline = handle.ValidUntil;

        await Task.Delay(ttl * 2.5);

        Assert.False(handle.LostToken.IsCancellationRequested, "lost while auto-extended; provider log:" + Environment.NewLine + LockTestKit.Log.Recent);
        Assert.True(handle.ValidUntil > firstDeadline + ttl, $"deadline {handle.ValidUntil:O} did not move past {firstDeadline + ttl:O}");
        var contender = await other.TryAcquireDetailedAsync(resource, ttl, TimeSpan.Zero);
        Assert.True(
            contender.Status == LockAttemptStatus.Conflicted,
            $"{contender}; holder lost: {handle.IsLost}; provider log:{Environment.NewLine}{LockTestKit.Log.Recent}");
        var ttlLeft = await _probe.Master(0).KeyTimeToLiveAsync("lock:" + resource);
        Assert.NotNull(ttlLeft);

        await handle.DisposeAsync();

        await AllReleasedAsync(resource);
        await Task.Delay(ttl); // no extension after dispose re-creates anything
        Assert.All(await _probe.GetAllAsync(resource), Assert.Null);
        await using var next = await other.AcquireAsync(resource, ttl, TimeSpan.Zero);
    }

    [Fact]
    public async Task An_abandoned_handle_is_not_extended_forever()
    {
        await using var provider = await LockTestKit.Provider(_servers).WarmAsync();
        var resource = LockTestKit.Resource("abandoned");
        var ttl = TimeSpan.FromMilliseconds(600);

        await AcquireAndDropAsync(provider, resource, ttl);
        await SettledValuesAsync(resource);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        // Without the owner's handle nothing extends the lock any more: its TTL frees it.
        await Eventually.TrueAsync(
            async () => (await _probe.GetAllAsync(resource)).All(v => v is null),
            TimeSpan.FromSeconds(4),
            "the abandoned lock to expire on every master");
    }

    /// <summary>The key's value on every master once all three have it (acquisition returns at a quorum; the third may land just after).</summary>
    private async Task<string?[]> SettledValuesAsync(string resource)
    {
        await Eventually.TrueAsync(
            async () => (await _probe.GetAllAsync(resource)).All(v => v is not null),
            TimeSpan.FromSeconds(5),
            "the lock key on every master");
        return await _probe.GetAllAsync(resource);
    }

    private Task AllReleasedAsync(string resource) => Eventually.TrueAsync(
        async () => (await _probe.GetAllAsync(resource)).All(v => v is null),
        TimeSpan.FromSeconds(1),
        "the lock key deleted on every master");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task AcquireAndDropAsync(RedlockProvider provider, string resource, TimeSpan ttl)
    {
        var handle = await provider.AcquireAsync(resource, ttl, TimeSpan.Zero);
        Assert.False(handle.IsLost);
    }
}
