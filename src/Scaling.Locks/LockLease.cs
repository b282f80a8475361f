using System.Diagnostics;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Scaling.Locks;

/// <summary>
/// The state of one held lock: its key and random value, its validity deadline, the lost signal and the
/// automatic extension loop. It deliberately holds no reference to its <see cref="RedlockHandle"/>, so an
/// abandoned handle can be collected and the loop then stops (the lock frees itself at its TTL).
/// </summary>
internal sealed class LockLease : IAsyncDisposable
{
    private const int Held = 0;
    private const int LostState = 1;
    private const int Released = 2;

    private static readonly long Origin = Stopwatch.GetTimestamp();

    private readonly RedlockProvider _provider;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private TimeSpan _deadline;
    private int _state;
    private int _releaseStarted;
    private Task? _extensionLoop;

    internal LockLease(RedlockProvider provider, string resource, RedisKey key, RedisValue value, TimeSpan ttl, TimeSpan start, TimeSpan validity, long? fencingToken)
    {
        _provider = provider;
        Resource = resource;
        Key = key;
        Value = value;
        Ttl = ttl;
        FencingToken = fencingToken;
        _deadline = start + validity;
        LostToken = _lost.Token;
        _lost.Token.UnsafeRegister(static s => ((LockLease)s!).OnLostSignalled(), this);
        var remaining = _deadline - Now();
        if (remaining <= TimeSpan.Zero)
        {
            MarkLost("its validity ran out before it was handed over");
        }
        else
        {
            _lost.CancelAfter(remaining);
        }
    }

    internal string Resource { get; }

    internal RedisKey Key { get; }

    internal RedisValue Value { get; }

    internal TimeSpan Ttl { get; }

    internal long? FencingToken { get; }

    internal CancellationToken LostToken { get; }

    internal bool IsLost => Volatile.Read(ref _state) == LostState;

    internal DateTimeOffset ValidUntil
    {
        get
        {
            lock (_gate)
            {
                return DateTimeOffset.UtcNow + (_deadline - Now());
            }
        }
    }

    /// <summary>Monotonic time since an arbitrary origin (immune to wall-clock jumps).</summary>
    internal static TimeSpan Now() => Stopwatch.GetElapsedTime(Origin);

    internal void StartExtensionLoop(WeakReference<RedlockHandle> handle)
    {
        // The loop outlives the acquisition: it must not run inside the caller's span (the "lock acquire" span, or the
        // caller's request), nor keep that span alive for as long as the lock is held.
        var current = Activity.Current;
        Activity.Current = null;
        try
        {
            _extensionLoop = Task.Run(() => RunExtensionLoopAsync(this, handle));
        }
        finally
        {
            Activity.Current = current;
        }
    }

    internal async Task<bool> ExtendAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _state) != Held)
        {
            return false;
        }

        var start = Now();
        var round = await _provider.ExtendOnMastersAsync(Key, Value, Ttl, cancellationToken).ConfigureAwait(false);
        var validity = RedlockTiming.Validity(Ttl, Now() - start);
        if (round.Granted >= _provider.Quorum && validity > TimeSpan.Zero)
        {
            lock (_gate)
            {
                if (_state != Held)
                {
                    return false;
                }

                var deadline = start + validity;
                var remaining = deadline - Now();
                if (deadline > _deadline && remaining > TimeSpan.Zero)
                {
                    _deadline = deadline;
                    _lost.CancelAfter(remaining);
                }
            }

            _provider.Metrics.Extensions.Add(1, new KeyValuePair<string, object?>("result", "extended"));
            return true;
        }

        _provider.Metrics.Extensions.Add(1, new KeyValuePair<string, object?>("result", "failed"));
        if (round.Conflicted > _provider.Masters - _provider.Quorum)
        {
            // A majority answered that the key is gone or someone else's: no quorum can still be ours.
            MarkLost("an extension found it gone or taken on a majority of masters (" + string.Join(", ", round.Nodes) + ")");
        }
        else if (Volatile.Read(ref _state) == Held)
        {
            LocksLog.ExtensionFailed(_provider.Logger, Resource, string.Join(", ", round.Nodes), (_deadline - Now()).TotalMilliseconds);
        }

        return false;
    }

    /// <summary>Releases the lock: stops the extension loop, signals <see cref="LostToken"/>, compare-and-deletes on every master.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _releaseStarted, 1) != 0)
        {
            return;
        }

        _stop.Cancel(); // synchronous: the extension loop ends inline, no thread-pool hop
        if (_extensionLoop is { } loop)
        {
            await loop.ConfigureAwait(false);
        }

        Interlocked.CompareExchange(ref _state, Released, Held);
        SignalLost();
        await _provider.ReleaseOnAllMastersAsync(Resource, Key, Value).ConfigureAwait(false);
        _stop.Dispose();

        // _lost is not disposed: LostToken stays usable after release, and its timer ended when it was cancelled.
    }

    private static async Task RunExtensionLoopAsync(LockLease lease, WeakReference<RedlockHandle> handle)
    {
        var interval = lease.Ttl / 3;
        var delay = interval;
        while (true)
        {
            try
            {
                var due = Now() + delay;

                // A release cancels the wait: it ends without an exception (one per lock would cost every release).
                await Task.Delay(delay, lease._stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (lease._stop.IsCancellationRequested)
                {
                    return;
                }

                if (!handle.TryGetTarget(out _))
                {
                    // Nobody can dispose this lock any more: stop extending it and let its TTL free it.
                    LocksLog.Abandoned(lease._provider.Logger, lease.Resource);
                    return;
                }

                if (Volatile.Read(ref lease._state) != Held)
                {
                    return;
                }

                var started = Now();
                var extended = await lease.ExtendAsync(lease._stop.Token).ConfigureAwait(false);
                var late = started - due;
                var took = Now() - started;
                if (late + took > interval / 2)
                {
                    LocksLog.ExtensionLate(lease._provider.Logger, lease.Resource, late.TotalMilliseconds, took.TotalMilliseconds);
                }

                if (Volatile.Read(ref lease._state) != Held)
                {
                    return;
                }

                if (extended)
                {
                    delay = interval;
                }
                else
                {
                    // Try again soon, while validity is left; the lost signal fires if it runs out first.
                    var remaining = lease._deadline - Now();
                    delay = TimeSpan.FromTicks(Math.Clamp(remaining.Ticks / 4, TimeSpan.TicksPerMillisecond, Math.Max(interval.Ticks, TimeSpan.TicksPerMillisecond)));
                }
            }
            catch (OperationCanceledException) when (lease._stop.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private void MarkLost(string reason)
    {
        if (Interlocked.CompareExchange(ref _state, LostState, Held) == Held)
        {
            _provider.Metrics.Lost.Add(1);
            LocksLog.Lost(_provider.Logger, Resource, reason);
            SignalLost();
        }
    }

    private void OnLostSignalled()
    {
        // The validity timer fired (an explicit MarkLost or a release has already changed the state).
        if (Interlocked.CompareExchange(ref _state, LostState, Held) == Held)
        {
            _provider.Metrics.Lost.Add(1);
            LocksLog.Lost(_provider.Logger, Resource, "its validity ran out without a successful extension");
        }
    }

    private void SignalLost()
    {
        try
        {
            _lost.Cancel();
        }
        catch (AggregateException ex)
        {
            // A callback registered on LostToken threw: that is the caller's bug; the lock state is unaffected.
            LocksLog.LostCallbackFailed(_provider.Logger, Resource, ex);
        }
    }
}
