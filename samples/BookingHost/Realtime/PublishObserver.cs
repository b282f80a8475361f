using System.Collections.Concurrent;

namespace BookingHost.Realtime;

/// <summary>
/// Settles the publishes handed to Redis (counted as published, or failed) without a thread-pool hop per publish: an
/// <c>await</c> on each answer resumed on another thread once per event. The answers come back in the order the
/// publishes went out (one connection carries them), so the outstanding ones wait in a queue, oldest first, and are
/// looked at when the next publish goes out and on a timer. One still unanswered after the timeout counts as failed;
/// the count can come up to half the timeout later than the timeout itself (the timer's period).
/// </summary>
internal sealed class PublishObserver : IDisposable
{
    private readonly ConcurrentQueue<(Task<long> Publish, long Started)> _outstanding = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _timeout;
    private readonly Action _published;
    private readonly Action<string, Exception?> _failed;
    private readonly ITimer _timer;
    private int _settling;

    /// <summary>Creates the observer and starts its timer.</summary>
    /// <param name="time">The clock of the timeout.</param>
    /// <param name="timeout">How long Redis may take to answer before a publish counts as failed.</param>
    /// <param name="published">Called once per publish Redis answered.</param>
    /// <param name="failed">Called once per publish that failed, with the reason (<c>timeout</c> or <c>error</c>).</param>
    public PublishObserver(TimeProvider time, TimeSpan timeout, Action published, Action<string, Exception?> failed)
    {
        _time = time;
        _timeout = timeout;
        _published = published;
        _failed = failed;
        var period = TimeSpan.FromTicks(Math.Clamp(timeout.Ticks / 2, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond));
        _timer = time.CreateTimer(static state => ((PublishObserver)state!).Settle(), this, period, period);
    }

    /// <summary>Follows <paramref name="publish"/> until it is answered or times out.</summary>
    public void Add(Task<long> publish)
    {
        if (publish.IsCompleted && _outstanding.IsEmpty)
        {
            Count(publish);
            return;
        }

        _outstanding.Enqueue((publish, _time.GetTimestamp()));
        Settle();
    }

    /// <inheritdoc />
    public void Dispose() => _timer.Dispose();

    /// <summary>Counts every publish at the head of the queue that was answered or timed out; one thread at a time.</summary>
    private void Settle()
    {
        if (Interlocked.Exchange(ref _settling, 1) != 0)
        {
            return; // another thread is at it; what it leaves waits for the next publish or the timer
        }

        try
        {
            while (_outstanding.TryPeek(out var head))
            {
                if (head.Publish.IsCompleted)
                {
                    _outstanding.TryDequeue(out _);
                    Count(head.Publish);
                    continue;
                }

                if (_time.GetElapsedTime(head.Started) < _timeout)
                {
                    return; // the ones behind it went out later
                }

                _outstanding.TryDequeue(out _);
                _failed("timeout", new TimeoutException($"Redis did not answer a publish within {_timeout.TotalMilliseconds:0} ms."));

                // Its late failure (a connection that gives up on it) is observed, not left to the finalizer.
                _ = head.Publish.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
        finally
        {
            Volatile.Write(ref _settling, 0);
        }
    }

    private void Count(Task<long> publish)
    {
        if (publish.IsCompletedSuccessfully)
        {
            _published();
        }
        else
        {
            _failed("error", publish.Exception?.InnerException);
        }
    }
}
