using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http.Features;

namespace BookingHost.Realtime;

/// <summary>
/// Writes one Server-Sent Events stream until the client goes away, the host stops (so graceful shutdown is not held
/// up by open streams), or the client falls too far behind (it is then aborted: its reconnect reloads its view).
/// </summary>
internal sealed class EventStreamResult(RealtimeHub hub, EventStreamConnection connection, IHostApplicationLifetime lifetime, TimeSpan clientRetry) : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache, no-store";
        response.Headers["X-Accel-Buffering"] = "no"; // nginx: do not buffer the stream
        httpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(httpContext.RequestAborted, lifetime.ApplicationStopping, connection.Overflowed);
        var cancellationToken = stop.Token;
        var body = response.BodyWriter;
        var flushed = new List<DateTimeOffset>();
        var flushing = false;
        try
        {
            // The stream is registered before the first bytes go out: a client that has read them receives every
            // event published from then on.
            Write(body, Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"retry: {(long)clientRetry.TotalMilliseconds}\n: connected\n\n")));
            flushing = true;
            await body.FlushAsync(cancellationToken);
            flushing = false;

            var frames = connection.Frames;
            while (await frames.WaitToReadAsync(cancellationToken))
            {
                while (frames.TryRead(out var frame))
                {
                    Write(body, frame.Bytes);
                    if (!frame.IsHeartbeat)
                    {
                        flushed.Add(frame.OccurredAt);
                    }
                }

                flushing = true;
                await body.FlushAsync(cancellationToken);
                flushing = false;
                if (flushed.Count > 0)
                {
                    var now = DateTimeOffset.UtcNow;
                    foreach (var occurredAt in flushed)
                    {
                        RealtimeInstruments.DeliveryLatency.Record((now - occurredAt).TotalMilliseconds);
                    }

                    RealtimeInstruments.Delivered.Add(flushed.Count);
                    flushed.Clear();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Client gone, host stopping, or overflow: handled below.
        }
        finally
        {
            hub.Remove(connection);
            connection.Dispose();
        }

        if (connection.HasOverflowed || (flushing && !httpContext.RequestAborted.IsCancellationRequested))
        {
            // Behind on a stalled connection: ending the response normally would wait on the client again.
            httpContext.Abort();
        }
        else if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            RealtimeInstruments.Disconnected.Add(1, new KeyValuePair<string, object?>("reason", "shutdown"));
        }
    }

    private static void Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> bytes) => writer.Write(bytes);
}
