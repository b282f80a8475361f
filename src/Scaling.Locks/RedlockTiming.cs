using System.Globalization;

namespace Scaling.Locks;

/// <summary>
/// The timing arithmetic of the Redlock algorithm (https://redis.io/docs/latest/develop/use/patterns/distributed-locks/):
/// how many masters make a quorum, how much clock drift to allow for, and how long an acquired lock
/// is really valid.
/// </summary>
/// <remarks>
/// A client sends <c>SET key value NX PX ttl</c> to every master, measures the time that took
/// (<c>elapsed</c>), and holds the lock only if at least <see cref="Quorum"/> masters accepted it and
/// <see cref="Validity"/> is still positive; it must finish its work within that validity.
/// </remarks>
public static class RedlockTiming
{
    private static readonly TimeSpan FixedDrift = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Returns the number of masters that must accept a lock for it to be held: a strict majority,
    /// <c>masterCount / 2 + 1</c>.
    /// </summary>
    /// <param name="masterCount">The number of independent Redis masters: a positive odd number (1, 3, 5, …).</param>
    /// <returns>The quorum: 1 for 1 master, 2 for 3, 3 for 5.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="masterCount"/> is zero, negative or even.</exception>
    /// <remarks>
    /// An even number of masters is rejected: it tolerates no more failures than one master fewer
    /// (4 masters need 3, like 3 masters need 2, and both survive one failure) while adding a master
    /// that every acquisition must wait for.
    /// </remarks>
    public static int Quorum(int masterCount)
    {
        if (masterCount < 1 || masterCount % 2 == 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(masterCount),
                masterCount,
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"The number of Redis masters must be a positive odd number (1, 3, 5, ...) so that a strict majority is well defined; it was {masterCount}."));
        }

        return (masterCount / 2) + 1;
    }

    /// <summary>
    /// Returns the clock drift to allow for over a lock's time to live, as the Redlock specification
    /// does: 1% of <paramref name="ttl"/> plus 2 milliseconds (the 2 ms cover Redis's millisecond
    /// expiry precision).
    /// </summary>
    /// <param name="ttl">The lock's time to live; greater than zero.</param>
    /// <returns>The drift, with the 1% rounded up to the next tick so that the estimate never errs on the optimistic side.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="ttl"/> is zero or negative.</exception>
    public static TimeSpan ClockDrift(TimeSpan ttl)
    {
        ThrowIfNotPositive(ttl);
        var onePercentTicks = (ttl.Ticks / 100) + (ttl.Ticks % 100 == 0 ? 0 : 1);
        return TimeSpan.FromTicks(onePercentTicks) + FixedDrift;
    }

    /// <summary>
    /// Returns how long a lock acquired with time to live <paramref name="ttl"/> remains safely held
    /// after the acquisition took <paramref name="elapsed"/>: <c>ttl − elapsed − ClockDrift(ttl)</c>.
    /// </summary>
    /// <param name="ttl">The lock's time to live; greater than zero.</param>
    /// <param name="elapsed">The time the acquisition took, measured from before the first <c>SET</c> was sent; zero or greater.</param>
    /// <returns>
    /// The validity. A result of zero or less means the acquisition is worthless: the lock may already
    /// have expired on some masters, so it must be treated as not acquired (and released on every master).
    /// </returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="ttl"/> is zero or negative, or <paramref name="elapsed"/> is negative.</exception>
    public static TimeSpan Validity(TimeSpan ttl, TimeSpan elapsed)
    {
        var drift = ClockDrift(ttl);
        if (elapsed < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(
                nameof(elapsed),
                elapsed,
                string.Create(CultureInfo.InvariantCulture, $"The time the acquisition took cannot be negative; it was {elapsed}."));
        }

        // Both are non-negative, so ttl - elapsed cannot overflow; the drift is then subtracted with saturation.
        var remainingTicks = ttl.Ticks - elapsed.Ticks;
        return remainingTicks < long.MinValue + drift.Ticks ? TimeSpan.MinValue : TimeSpan.FromTicks(remainingTicks - drift.Ticks);
    }

    private static void ThrowIfNotPositive(TimeSpan ttl)
    {
        if (ttl <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(
                nameof(ttl),
                ttl,
                string.Create(CultureInfo.InvariantCulture, $"A lock's time to live must be greater than zero; it was {ttl}."));
        }
    }
}
