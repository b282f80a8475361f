namespace Scaling.Locks;

/// <summary>
/// A held lock. Dispose it (<c>await using</c>) to release it: compare-and-delete on every master,
/// returning once a majority has released it (the rest finishes in the background, bounded by
/// <see cref="ScalingLocksOptions.NodeTimeout"/>). Work that must not run
/// without the lock should observe <see cref="LostToken"/> and, when it writes to a shared store, pass
/// <see cref="FencingToken"/> to that store (see <see cref="FencingGuard"/>).
/// </summary>
/// <remarks>
/// Keep a reference to the handle for as long as the work lasts: automatic extension stops when the
/// handle is disposed, when the process ends, and when the handle is garbage-collected without being
/// disposed. In every case the lock then frees itself when its TTL runs out; it is never kept alive for an
/// owner that is gone.
/// </remarks>
public interface IDistributedLockHandle : IAsyncDisposable
{
    /// <summary>The locked resource's name.</summary>
    string Resource { get; }

    /// <summary>
    /// Until when the lock is safely held (wall clock, UTC): the acquisition's (or last successful
    /// extension's) start plus its validity, that is TTL − elapsed − clock drift. Past it, the lock is
    /// treated as lost and <see cref="LostToken"/> is cancelled.
    /// </summary>
    DateTimeOffset ValidUntil { get; }

    /// <summary>
    /// Cancelled when the lock is lost (an extension found that a majority of masters no longer holds it,
    /// or the validity ran out without a successful extension) and when the handle is disposed. Never
    /// "still acquired" silently: once cancelled, the lock must be considered gone.
    /// </summary>
    CancellationToken LostToken { get; }

    /// <summary>Whether the lock was lost while held (as opposed to released by <see cref="IAsyncDisposable.DisposeAsync"/>).</summary>
    bool IsLost { get; }

    /// <summary>
    /// The fencing token taken for this acquisition: strictly greater than every token taken before for
    /// the same resource. <see langword="null"/> when no <see cref="IFencingTokenSource"/> is configured.
    /// </summary>
    long? FencingToken { get; }

    /// <summary>
    /// Resets the lock's TTL on every master that still holds it for this owner (compare-and-extend) and,
    /// when a quorum did so in time, moves <see cref="ValidUntil"/> forward.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for the masters.</param>
    /// <returns>
    /// <see langword="true"/> when the lock was extended; <see langword="false"/> when it was not (it stays
    /// valid until the current <see cref="ValidUntil"/> unless a majority no longer holds it, in which case it
    /// is lost now), or when it is already lost or released.
    /// </returns>
    Task<bool> ExtendAsync(CancellationToken cancellationToken = default);
}
