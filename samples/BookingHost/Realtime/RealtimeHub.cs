using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace BookingHost.Realtime;

/// <summary>
/// This instance's open event streams, by business, and the fan-out to them. Fan-out only queues (never waits for a
/// client), so one slow client costs the others nothing; a heartbeat frame goes to every stream on a timer.
/// </summary>
public sealed class RealtimeHub : IDisposable
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<EventStreamConnection, byte>> _byTenant = new(StringComparer.Ordinal);
    private readonly ILogger<RealtimeHub> _logger;
    private readonly ITimer _heartbeat;
    private int _count;

    /// <summary>Creates the hub.</summary>
    public RealtimeHub(IOptions<RealtimeOptions> options, TimeProvider timeProvider, ILogger<RealtimeHub> logger)
    {
        _logger = logger;
        var interval = options.Value.HeartbeatInterval;
        _heartbeat = timeProvider.CreateTimer(static state => ((RealtimeHub)state!).Dispatch(EventFrame.Heartbeat), this, interval, interval);
    }

    /// <summary>Gets the number of open streams on this instance.</summary>
    public int ConnectionCount => Volatile.Read(ref _count);

    /// <summary>Gets whether this instance receives the other instances' events (its Redis subscription is up).</summary>
    public bool IsSubscribed { get; internal set; }

    /// <inheritdoc />
    public void Dispose() => _heartbeat.Dispose();

    internal bool TryAdd(EventStreamConnection connection, int maxConnections)
    {
        if (Interlocked.Increment(ref _count) > maxConnections)
        {
            Interlocked.Decrement(ref _count);
            return false;
        }

        _byTenant.GetOrAdd(connection.Filter.Tenant, static _ => new()).TryAdd(connection, 0);
        RealtimeInstruments.Connections.Add(1);
        return true;
    }

    internal void Remove(EventStreamConnection connection)
    {
        if (_byTenant.TryGetValue(connection.Filter.Tenant, out var connections) && connections.TryRemove(connection, out _))
        {
            Interlocked.Decrement(ref _count);
            RealtimeInstruments.Connections.Add(-1);

            // An empty set is left in place (a business's streams come and go); it costs one dictionary entry.
        }
    }

    /// <summary>Queues a frame on every stream of its business (a heartbeat on every stream).</summary>
    internal void Dispatch(EventFrame frame)
    {
        if (frame.IsHeartbeat)
        {
            foreach (var connections in _byTenant.Values)
            {
                Offer(connections, frame);
            }
        }
        else if (_byTenant.TryGetValue(frame.Tenant, out var connections))
        {
            Offer(connections, frame);
        }
    }

    private void Offer(ConcurrentDictionary<EventStreamConnection, byte> connections, EventFrame frame)
    {
        foreach (var (connection, _) in connections)
        {
            switch (connection.Offer(frame))
            {
                case OfferResult.Overflowed:
                    RealtimeInstruments.Dropped.Add(1);
                    RealtimeInstruments.Disconnected.Add(1, new KeyValuePair<string, object?>("reason", "overflow"));
                    RealtimeLog.ClientOverflow(_logger, connection.Filter.Tenant, connection.BufferSize);
                    break;
                case OfferResult.Dropped when !frame.IsHeartbeat:
                    RealtimeInstruments.Dropped.Add(1);
                    break;
            }
        }
    }
}
