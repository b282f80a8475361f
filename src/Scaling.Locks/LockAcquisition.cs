namespace Scaling.Locks;

/// <summary>The result of <see cref="IDistributedLockProvider.TryAcquireDetailedAsync"/>: the last attempt's status and each master's answer.</summary>
public sealed class LockAcquisition
{
    internal LockAcquisition(string resource, LockAttemptStatus status, IDistributedLockHandle? handle, IReadOnlyList<LockNodeResult> nodes, int attempts, TimeSpan elapsed)
    {
        Resource = resource;
        Status = status;
        Handle = handle;
        Nodes = nodes;
        Attempts = attempts;
        Elapsed = elapsed;
    }

    /// <summary>The resource's name.</summary>
    public string Resource { get; }

    /// <summary>The status of the last attempt: <see cref="LockAttemptStatus.Acquired"/> exactly when <see cref="Handle"/> is set.</summary>
    public LockAttemptStatus Status { get; }

    /// <summary>The held lock, or <see langword="null"/> when it was not acquired.</summary>
    public IDistributedLockHandle? Handle { get; }

    /// <summary>Each master's answer to the last attempt, in the order of <see cref="ScalingLocksOptions.Endpoints"/>.</summary>
    public IReadOnlyList<LockNodeResult> Nodes { get; }

    /// <summary>How many attempts were made (at least one).</summary>
    public int Attempts { get; }

    /// <summary>How long the acquisition took in all.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>Returns e.g. <c>lock 'orders:42' Conflicted after 3 attempt(s): 127.0.0.1:6379 Conflicted (0.3 ms), ...</c>.</summary>
    /// <returns>The status and the per-master answers.</returns>
    public override string ToString() =>
        $"lock {DisplayText.Quote(Resource)} {Status} after {Attempts} attempt(s): {string.Join(", ", Nodes)}";
}
