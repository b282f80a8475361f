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

    /// <summary>The result, for a caller that waits as long as it takes (see <see cref="WaitAsync"/> for the others).</summary>
    internal Task<T> Result => _result.Task;

    /// <summary>
    /// Adds a caller; false when every earlier caller gave up and the flight was cancelled, or when the flight has
    /// failed (it is about to be unregistered: a new caller must not get an earlier caller's failure).
    /// </summary>
    internal bool TryJoin()
    {
        if (_result.Task.IsFaulted || _result.Task.IsCanceled)
        {
            return false;
        }

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

    /// <summary>
    /// Waits for the result. Giving up (cancellation) counts the caller out; when the last caller gives up the
    /// factory is cancelled. A <paramref name="timeout"/> only ends this caller's wait: the factory goes on.
    /// </summary>
    /// <returns>The result; throws <see cref="WaitTimeoutException"/> when the timeout passed first.</returns>
    internal async ValueTask<T> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var result = _result.Task;
        if (!cancellationToken.CanBeCanceled && timeout == Timeout.InfiniteTimeSpan)
        {
            return await result.ConfigureAwait(false);
        }

        try
        {
            return await result.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !result.IsCompleted)
        {
            if (Interlocked.Decrement(ref _waiters) == 0 && !result.IsCompleted)
            {
                try
                {
                    _factoryCancellation.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // The flight ended at this very moment: nothing left to cancel.
                }
            }

            throw;
        }
        catch (TimeoutException) when (!result.IsCompleted)
        {
            throw new WaitTimeoutException();
        }
    }

    internal void Complete(T value) => _result.TrySetResult(value);

    internal void Fail(Exception exception) => _result.TrySetException(exception);

    public void Dispose() => _factoryCancellation.Dispose();
}

/// <summary>A caller's wait for a flight ran out (as opposed to a <see cref="TimeoutException"/> thrown by the factory).</summary>
internal sealed class WaitTimeoutException : TimeoutException;
