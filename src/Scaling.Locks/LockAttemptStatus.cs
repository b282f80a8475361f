namespace Scaling.Locks;

/// <summary>The outcome of one attempt to acquire a lock on every Redis master.</summary>
public enum LockAttemptStatus
{
    /// <summary>A quorum of masters granted the lock and time was left on it: the lock is held.</summary>
    Acquired,

    /// <summary>
    /// Too few masters answered (down, paused, timed out), or the answers came too late to leave any
    /// validity: no quorum, so the lock is not held.
    /// </summary>
    NoQuorum,

    /// <summary>
    /// Enough masters answered, but at least one of them holds the lock for another owner, so the
    /// grants did not reach a quorum: the resource is contended and the lock is not held.
    /// </summary>
    Conflicted,
}
