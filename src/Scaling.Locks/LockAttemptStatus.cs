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
    /// At least one master answered that another owner holds the lock, and the masters that did not fail
    /// (answered or still answering) were enough for a quorum: the grants fell short because the resource
    /// is contended. The lock is not held.
    /// </summary>
    Conflicted,
}
