using System.Threading.Channels;

namespace BookingHost.Realtime;

/// <summary>
/// One open stream: a bounded queue of frames between the fan-out (which never waits: it writes to an idle stream
/// itself, and queues for a busy one) and the response writer. A client whose queue is full is disconnected rather than
/// allowed to slow anybody else down or to miss events silently.
/// </summary>
internal sealed class EventStreamConnection : IDisposable
{
    private readonly Channel<EventFrame> _frames;
    private readonly CancellationTokenSource _overflow = new();
    private int _overflowed;

    public EventStreamConnection(EventStreamFilter filter, int bufferSize)
    {
        Filter = filter;
        BufferSize = bufferSize;
        _frames = Channel.CreateBounded<EventFrame>(new BoundedChannelOptions(bufferSize)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then fails instead of waiting: that is the overflow signal

            // A frame offered to an idle stream is written and flushed by the offering thread itself, as the stream's
            // reader resumes inline (it goes back to waiting as soon as the frame is flushed, or when the flush has to
            // wait for the client). Without it, every delivery woke the reader on another thread: a thread-pool hop per
            // stream per event, about ten per request in the load test's mix.
            AllowSynchronousContinuations = true,
        });
    }

    public EventStreamFilter Filter { get; }

    public int BufferSize { get; }

    public ChannelReader<EventFrame> Frames => _frames.Reader;

    /// <summary>Cancelled when the client fell <see cref="BufferSize"/> frames behind.</summary>
    public CancellationToken Overflowed => _overflow.Token;

    public bool HasOverflowed => Volatile.Read(ref _overflowed) != 0;

    /// <summary>Queues a frame if the filter accepts it; never waits.</summary>
    public OfferResult Offer(EventFrame frame)
    {
        if (!Filter.Accepts(frame))
        {
            return OfferResult.Filtered;
        }

        if (_frames.Writer.TryWrite(frame))
        {
            return OfferResult.Queued;
        }

        if (Interlocked.Exchange(ref _overflowed, 1) == 0)
        {
            _frames.Writer.TryComplete();
            _ = _overflow.CancelAsync(); // callbacks run on the thread pool, not on the fan-out's thread
            return OfferResult.Overflowed;
        }

        return OfferResult.Dropped;
    }

    /// <summary>Stops accepting frames (the token source is not disposed: a late overflow may still cancel it).</summary>
    public void Dispose() => _frames.Writer.TryComplete();
}

/// <summary>What became of a frame offered to a stream.</summary>
internal enum OfferResult
{
    /// <summary>Queued for the client.</summary>
    Queued,

    /// <summary>Not for this client.</summary>
    Filtered,

    /// <summary>Dropped: the client's buffer is full, and it is now being disconnected.</summary>
    Overflowed,

    /// <summary>Dropped: the client is already being disconnected.</summary>
    Dropped,
}
