namespace Scaling.Peers.Tests.Locks;

/// <summary>
/// Counts, in-process, holders of one lock whose held intervals overlap: a shared counter of holders inside the
/// critical section (an entry that finds another holder inside is an overlap), and holders whose library signalled,
/// while they worked, that the lock was lost.
/// </summary>
internal sealed class HolderLog
{
    private int _inside;
    private int _overlaps;
    private int _entries;
    private int _notAcquired;
    private int _lostWhileHeld;

    /// <summary>Entries that found another holder inside.</summary>
    public int Overlaps => Volatile.Read(ref _overlaps);

    /// <summary>Critical sections entered.</summary>
    public int Entries => Volatile.Read(ref _entries);

    /// <summary>Acquisitions that gave up (or threw) without the lock.</summary>
    public int NotAcquired => Volatile.Read(ref _notAcquired);

    /// <summary>Holders told by their library, during their work, that the lock was lost.</summary>
    public int LostWhileHeld => Volatile.Read(ref _lostWhileHeld);

    /// <summary>Records an acquisition that did not get the lock.</summary>
    public void Missed() => Interlocked.Increment(ref _notAcquired);

    /// <summary>Enters the critical section, works for about a millisecond, and leaves; <paramref name="isLost"/> is read after the work.</summary>
    public async Task HoldAsync(Func<bool> isLost)
    {
        if (Interlocked.Increment(ref _inside) != 1)
        {
            Interlocked.Increment(ref _overlaps);
        }

        Interlocked.Increment(ref _entries);
        await Task.Delay(1); // the protected work: long enough for another holder to be caught
        if (isLost())
        {
            Interlocked.Increment(ref _lostWhileHeld);
        }

        Interlocked.Decrement(ref _inside);
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"{Entries} critical sections, {Overlaps} overlapping, {LostWhileHeld} signalled lost while held, {NotAcquired} not acquired";
}
