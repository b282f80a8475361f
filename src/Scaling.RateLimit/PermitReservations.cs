using System.Collections.Concurrent;
using System.Diagnostics;

namespace Scaling.RateLimit;

/// <summary>
/// Permits that this instance has already counted in Redis and hands out without a round trip (see
/// <see cref="ScalingRateLimitOptions.MaxReservedPermits"/>), per set of keys of a check.
/// </summary>
/// <remarks>
/// <para>Why nothing is admitted over the limit: a reserved permit was checked and counted by the script in the current
/// sub-window of every policy of the check, exactly as a request of that moment would have been; it is handed out only
/// before that sub-window ends (on Redis's clock, measured from when the call was sent, so never later than the end). The
/// counter counts every request of a sub-window alike, whatever its moment inside it, so an admission from a reservation is
/// counted where a request checked at that moment would be. Unused permits stay counted: a client may be held
/// slightly under its limit, never over it.</para>
/// <para>At most one call per set of keys asks for a reservation at a time; the others meanwhile check each request in
/// Redis as without reservations. How many permits a call asks for follows the demand: the checks of the key set since
/// the last reservation was asked for (twice that when the last one ran out before it expired), at most the option's
/// maximum; the script grants at most a quarter of what is left of each policy after the request itself.</para>
/// </remarks>
internal sealed class PermitReservations
{
    /// <summary>The most key sets kept; past it, expired ones are dropped, then new key sets go without reservations.</summary>
    internal const int MaxKeySets = 10_000;

    /// <summary>The longest a reservation lives, whatever its sub-windows: it bounds how stale its headers' figures get.</summary>
    internal static readonly TimeSpan MaxLifetime = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, Slot> _slots = new(StringComparer.Ordinal);

    internal int Count => _slots.Count;

    /// <summary>An admission from the key set's reservation, or <see langword="null"/> when it has none left (or none).</summary>
    internal RateLimitDecision? TryTake(string keySet, RateLimitCheck check)
    {
        if (!_slots.TryGetValue(keySet, out var slot))
        {
            return null;
        }

        Interlocked.Increment(ref slot.Seen);
        return Volatile.Read(ref slot.Current)?.TryTake(check);
    }

    /// <summary>
    /// How many permits beyond its own the call about to go to Redis should ask for: 0 when no reservation is wanted or
    /// another call is already asking. When more than 0, the caller must end with <see cref="Complete"/>.
    /// </summary>
    internal int Want(string keySet, int max)
    {
        if (!_slots.TryGetValue(keySet, out var slot))
        {
            if (_slots.Count >= MaxKeySets)
            {
                DropExpired();
                if (_slots.Count >= MaxKeySets)
                {
                    return 0;
                }
            }

            slot = _slots.GetOrAdd(keySet, static _ => new Slot());
        }

        if (Interlocked.CompareExchange(ref slot.Asking, 1, 0) != 0)
        {
            return 0;
        }

        long seen = Interlocked.Exchange(ref slot.Seen, 0);
        var wanted = Volatile.Read(ref slot.Current) is { IsExhausted: true } ? seen * 2 : seen;
        if (wanted <= 0)
        {
            Volatile.Write(ref slot.Asking, 0);
            return 0;
        }

        return (int)Math.Min(wanted, max);
    }

    /// <summary>Ends the call that asked: installs the reservation it got, if any, and lets the next call ask.</summary>
    internal void Complete(string keySet, Reservation? reservation)
    {
        if (_slots.TryGetValue(keySet, out var slot))
        {
            if (reservation is not null)
            {
                Volatile.Write(ref slot.Current, reservation);
            }

            Volatile.Write(ref slot.Asking, 0);
        }
    }

    private void DropExpired()
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var (key, slot) in _slots)
        {
            if (Volatile.Read(ref slot.Asking) == 0 && (Volatile.Read(ref slot.Current) is not { } current || current.ExpiresAt <= now))
            {
                _slots.TryRemove(key, out _);
            }
        }
    }

    /// <summary>One key set: its current reservation, the checks seen since the last call asked, and whether one is asking.</summary>
    private sealed class Slot
    {
#pragma warning disable SA1401 // updated with Interlocked
        internal Reservation? Current;
        internal long Seen;
        internal int Asking;
#pragma warning restore SA1401
    }

    /// <summary>
    /// The permits one call reserved: each policy's remaining quota and reset after them, Redis's clock when the script
    /// ran, and when they expire (the end of the earliest current sub-window of the check's policies).
    /// </summary>
    internal sealed class Reservation
    {
        private readonly (long Remaining, TimeSpan Reset)[] _states;
        private readonly long _serverTime;
        private readonly long _receivedAt;
        private int _left;

        /// <param name="granted">The permits reserved (at least 1).</param>
        /// <param name="states">Each policy's remaining quota (after the reserved permits) and reset, in the check's order.</param>
        /// <param name="serverTime">Redis's clock when the script ran (microseconds since the epoch).</param>
        /// <param name="sentAt">When the call was sent (a <see cref="Stopwatch"/> timestamp): the script ran after it.</param>
        /// <param name="receivedAt">When its answer arrived: the script ran before it.</param>
        /// <param name="windows">The windows of the check's policies (all sliding-window counters).</param>
        internal Reservation(int granted, (long Remaining, TimeSpan Reset)[] states, long serverTime, long sentAt, long receivedAt, IReadOnlyList<RateLimitRule> windows)
        {
            _left = granted;
            _states = states;
            _serverTime = serverTime;
            _receivedAt = receivedAt;
            var end = long.MaxValue;
            foreach (var rule in windows)
            {
                end = Math.Min(end, SubWindowEnd(serverTime, rule.Policy.Window));
            }

            // Measured from the sending, the script ran no later than `sentAt`'s counterpart: the reservation expires by
            // the sub-window's end at the latest.
            var life = TimeSpan.FromTicks(Math.Min((end - serverTime) * 10, MaxLifetime.Ticks));
            ExpiresAt = sentAt + (long)(life.TotalSeconds * Stopwatch.Frequency);
        }

        internal long ExpiresAt { get; }

        internal bool IsExhausted => Volatile.Read(ref _left) <= 0;

        /// <summary>The end of the sub-window (window ÷ 16, as in the script) that <paramref name="serverTime"/> lies in, in microseconds.</summary>
        internal static long SubWindowEnd(long serverTime, TimeSpan window)
        {
            var s = window.TotalMicroseconds / 16;
            return (long)((Math.Floor(serverTime / s) + 1) * s);
        }

        internal RateLimitDecision? TryTake(RateLimitCheck check)
        {
            var now = Stopwatch.GetTimestamp();
            if (now >= ExpiresAt || Volatile.Read(ref _left) <= 0)
            {
                return null;
            }

            var left = Interlocked.Decrement(ref _left);
            if (left < 0)
            {
                return null;
            }

            var elapsed = Stopwatch.GetElapsedTime(_receivedAt, now);
            var rules = check.Rules;
            var states = new RateLimitPolicyState[rules.Count];
            for (var i = 0; i < states.Length; i++)
            {
                var policy = rules[i].Policy;
                var (remaining, reset) = _states[i];
                var until = reset - elapsed;
                states[i] = new RateLimitPolicyState(policy, Math.Min(remaining + left, policy.PermitLimit), until > TimeSpan.Zero ? until : TimeSpan.Zero);
            }

            // Redis's clock now, at least: measured from the answer's arrival (the script ran before it). The reservation
            // expires by the end of its sub-window measured from the sending, so this stays inside that sub-window.
            return new RateLimitDecision(true, TimeSpan.Zero, states, isDegraded: false, rejectedBy: null, _serverTime + (long)elapsed.TotalMicroseconds);
        }
    }
}
