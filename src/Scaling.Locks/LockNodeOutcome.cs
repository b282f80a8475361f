namespace Scaling.Locks;

/// <summary>What one Redis master answered to one request of a lock (acquire or extend).</summary>
public enum LockNodeOutcome
{
    /// <summary>The master granted the request: the key is ours (set, or its expiry extended).</summary>
    Granted,

    /// <summary>The master refused: the key is held by another owner (or, for an extension, no longer ours).</summary>
    Conflicted,

    /// <summary>The master could not be asked: not connected, or the command failed.</summary>
    Failed,

    /// <summary>The master did not answer within <see cref="ScalingLocksOptions.NodeTimeout"/>.</summary>
    TimedOut,

    /// <summary>
    /// The master had not answered yet when the quorum was reached; the result does not depend on it
    /// (its key, if it is set later, holds this lock's own random value and is released or expires with it).
    /// </summary>
    Pending,
}
