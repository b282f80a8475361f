namespace Scaling.Cache;

/// <summary>A lookup in progress for one key, shared by every caller that asks for the key meanwhile (single-flight).</summary>
internal abstract class Flight
{
    private int _invalidated;

    /// <summary>True once an invalidation of the key arrived while the flight ran: its result is returned to the callers but not cached.</summary>
    internal bool Invalidated => Volatile.Read(ref _invalidated) == 1;

    internal void Invalidate() => Volatile.Write(ref _invalidated, 1);
}

/// <summary>A lookup in progress whose result is a <typeparamref name="T"/>.</summary>
internal sealed class Flight<T> : Flight, IDisposable
{
    private readonly TaskCompletionSource<T> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _factoryCancellation;
    private int _waiters = 1;

    internal Flight(CancellationToken disposing)
    {
        _factoryCancellation = CancellationTokenSource.CreateLinkedTokenSource(disposing);
    }

    /// <summary>Cancelled when every caller has given up before the result (or the cache is disposed).</summary>
    internal CancellationToken FactoryToken => _factoryCancellation.Token;

    internal bool HasResult => _result.Task.IsCompleted;

    /// <summary>Adds a caller; false when every earlier caller gave up and the flight was cancelled.</summary>
    internal bool TryJoin()
    {
        while (true)
        {
            var waiters = Volatile.Read(ref _waiters);
            if (waiters <= 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _waiters, waiters + 1, waiters) == waiters)
            {
                return true;
            }
        }
    }

    internal async ValueTask<T> WaitAsync(CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            return await _result.Task.ConfigureAwait(false);
        }

        try
        {
            return await _result.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !_result.Task.IsCompleted)
        {
            if (Interlocked.Decrement(ref _waiters) == 0 && !_result.Task.IsCompleted)
            {
                _factoryCancellation.Cancel();
            }

            throw;
        }
    }

    internal void Complete(T value) => _result.TrySetResult(value);

    internal void Fail(Exception exception) => _result.TrySetException(exception);

    public void Dispose() => _factoryCancellation.Dispose();
}
