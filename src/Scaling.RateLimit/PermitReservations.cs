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
/// <para>At most one call per set of keys asks for a reservation at a time; the others meanwhile take what is left of the
/// current one, or check each request in Redis as without reservations. A call asks when a quarter of the current
/// reservation is left (so that the rest covers the round trip), or when there is none. How many permits it asks for
/// follows the demand: the checks of the key set since the last ask (twice that when the last reservation ran low before
/// it expired), at most the option's maximum; the script grants at most a quarter of what is left of each policy after
/// the request itself. A reservation that is replaced while permits are left keeps them until it expires: the new one
/// hands them out first.</para>
/// </remarks>
internal sealed class PermitReservations
{
    /// <summary>The most key sets kept; past it, expired ones are dropped, then new key sets go without reservations.</summary>
    internal const int MaxKeySets = 10_000;

    /// <summary>The longest a reservation lives, whatever its sub-windows: it bounds how stale its headers' figures get.</summary>
    internal static readonly TimeSpan MaxLifetime = TimeSpan.FromSeconds(1);

    /// <summary>Taken off every reservation's life, for the two clocks' rates (a clock slewed by NTP runs up to 0.05 % off).</summary>
    internal static readonly TimeSpan ClockMargin = TimeSpan.FromMilliseconds(1);

    private readonly ConcurrentDictionary<string, Slot> _slots = new(StringComparer.Ordinal);

    /// <summary>
    /// An admission from the key set's reservation, or <see langword="null"/> when it has none left (or none), or when it
    /// runs low and nobody is asking for more: then this check goes to Redis and asks (<see cref="Want"/>).
    /// </summary>
    internal RateLimitDecision? TryTake(string keySet, RateLimitCheck check)
    {
        if (!_slots.TryGetValue(keySet, out var slot))
        {
            return null;
        }

        Interlocked.Increment(ref slot.Seen);
        var current = Volatile.Read(ref slot.Current);
        if (current is null || (current.IsLow && Volatile.Read(ref slot.Asking) == 0))
        {
            return null;
        }

        return current.TryTake(check);
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
        var wanted = Volatile.Read(ref slot.Current) is { IsLow: true } ? seen * 2 : seen;
        if (wanted <= 0)
        {
            Volatile.Write(ref slot.Asking, 0);
            return 0;
        }

        return (int)Math.Min(wanted, max);
    }

    /// <summary>The permits left in the key set's current reservation, which the next one will keep (0 when it has expired).</summary>
    internal int Left(string keySet) =>
        _slots.TryGetValue(keySet, out var slot) && Volatile.Read(ref slot.Current) is { } current ? current.Left : 0;

    /// <summary>Ends the call that asked: installs the reservation it got, if any, and lets the next call ask.</summary>
    internal void Complete(string keySet, Reservation? reservation)
    {
        if (_slots.TryGetValue(keySet, out var slot))
        {
            if (reservation is not null)
            {
                reservation.Follow(Volatile.Read(ref slot.Current));
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
    /// ran, and when they expire (the end of the earliest current sub-window of the check's policies); and the
    /// reservation it replaced, while that one has permits left and has not expired.
    /// </summary>
    internal sealed class Reservation
    {
        private readonly (long Remaining, TimeSpan Reset)[] _states;
        private readonly long _serverTime;
        private readonly long _receivedAt;
        private readonly int _low;
        private Reservation? _previous;
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
            _low = granted / 4;
            _states = states;
            _serverTime = serverTime;
            _receivedAt = receivedAt;
            var end = long.MaxValue;
            foreach (var rule in windows)
            {
                end = Math.Min(end, SubWindowEnd(serverTime, rule.Policy.Window));
            }

            // Measured from the sending, before which the script cannot have run: the reservation expires by the
            // sub-window's end at the latest.
            var life = TimeSpan.FromTicks(Math.Min((end - serverTime) * 10, MaxLifetime.Ticks)) - ClockMargin;
            ExpiresAt = sentAt + (long)(life.TotalSeconds * Stopwatch.Frequency);
        }

        internal long ExpiresAt { get; }

        /// <summary>Gets a value indicating whether a quarter of the permits or fewer are left: time to ask for more.</summary>
        internal bool IsLow => Volatile.Read(ref _left) <= _low;

        /// <summary>The end of the sub-window (window ÷ 16, as in the script) that <paramref name="serverTime"/> lies in, in microseconds.</summary>
        internal static long SubWindowEnd(long serverTime, TimeSpan window)
        {
            var s = window.TotalMicroseconds / 16;
            return (long)((Math.Floor(serverTime / s) + 1) * s);
        }

        /// <summary>Gets the permits left, 0 once expired.</summary>
        internal int Left => ExpiresAt > Stopwatch.GetTimestamp() ? Math.Max(Volatile.Read(ref _left), 0) : 0;

        /// <summary>Keeps the permits left in the reservation this one replaces (only its own, until it expires).</summary>
        internal void Follow(Reservation? replaced)
        {
            if (replaced is { Left: > 0 })
            {
                Volatile.Write(ref replaced._previous, null);
                _previous = replaced;
            }
        }

        internal RateLimitDecision? TryTake(RateLimitCheck check)
        {
            var now = Stopwatch.GetTimestamp();
            var previous = Volatile.Read(ref _previous);
            var from = previous is not null && previous.TryTakeOwn(now) ? previous : TryTakeOwn(now) ? this : null;
            if (from is null)
            {
                return null;
            }

            // The remaining quota as this instance sees it: Redis's after this reservation, plus what it and the one it
            // replaced have left.
            var left = Math.Max(Volatile.Read(ref _left), 0) + (previous is null ? 0 : Math.Max(Volatile.Read(ref previous._left), 0));
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

            // Redis's clock now, at least: measured from the arrival of the answer that reserved the permit (the script ran
            // before it). That reservation expires by the end of its sub-window measured from the sending, so this stays
            // inside that sub-window.
            var serverTime = from._serverTime + (long)Stopwatch.GetElapsedTime(from._receivedAt, now).TotalMicroseconds;
            return new RateLimitDecision(true, TimeSpan.Zero, states, isDegraded: false, rejectedBy: null, serverTime);
        }

        private bool TryTakeOwn(long now) =>
            now < ExpiresAt && Volatile.Read(ref _left) > 0 && Interlocked.Decrement(ref _left) >= 0;
    }
}
