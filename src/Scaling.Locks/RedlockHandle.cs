namespace Scaling.Locks;

/// <summary>The handle of a lock held through <see cref="RedlockProvider"/>.</summary>
internal sealed class RedlockHandle : IDistributedLockHandle
{
    private readonly LockLease _lease;

    internal RedlockHandle(LockLease lease, bool autoExtend)
    {
        _lease = lease;
        if (autoExtend)
        {
            // The loop holds the handle weakly: a handle dropped without DisposeAsync stops being extended.
            lease.StartExtensionLoop(new WeakReference<RedlockHandle>(this));
        }
    }

    public string Resource => _lease.Resource;

    public DateTimeOffset ValidUntil => _lease.ValidUntil;

    public CancellationToken LostToken => _lease.LostToken;

    public bool IsLost => _lease.IsLost;

    public long? FencingToken => _lease.FencingToken;

    public Task<bool> ExtendAsync(CancellationToken cancellationToken = default) => _lease.ExtendAsync(cancellationToken);

    public ValueTask DisposeAsync() => _lease.DisposeAsync();

    public override string ToString() => $"lock {DisplayText.Quote(Resource)}" + (FencingToken is { } token ? $" (fencing token {token})" : string.Empty);
}
