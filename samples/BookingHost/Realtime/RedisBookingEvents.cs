using System.Text;
using BookingHost.Infrastructure;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace BookingHost.Realtime;

/// <summary>
/// <see cref="IBookingEvents"/> over Redis pub/sub: an event goes straight to this instance's streams and is published
/// on one channel that every instance subscribes to once (the business is in the message, so an instance holds one
/// subscription however many streams and businesses it serves), on the instance's shared multiplexer (see
/// <see cref="RedisConnections"/>). Messages are handled one at a time, in the order Redis delivered them, so a client
/// sees another instance's events in the order they were published. An instance ignores its own messages when they come
/// back. Redis being down never fails the caller: the event still reaches this instance's clients, the failure is
/// logged (once per outage) and counted. The multiplexer reconnects and resubscribes by itself.
/// </summary>
public sealed class RedisBookingEvents : IBookingEvents, IHostedService, IAsyncDisposable
{
    private readonly RealtimeHub _hub;
    private readonly RealtimeOptions _options;
    private readonly RedisConnections? _connections;
    private readonly ILogger<RedisBookingEvents> _logger;
    private readonly RedisChannel _channel;
    private readonly byte[] _origin = Encoding.UTF8.GetBytes($"{Environment.ProcessId}-{Guid.NewGuid():N}");
    private readonly CancellationTokenSource _stopping = new();
    private readonly PublishObserver _publishes;
    private RedisConnection? _connection;
    private OrderedSubscription? _subscription;
    private Task? _subscribing;
    private int _publishFailing;
    private int _disposed;

    /// <summary>Creates the publisher/subscriber.</summary>
    /// <param name="hub">This instance's streams.</param>
    /// <param name="options">The options.</param>
    /// <param name="configuration">The host's configuration (<c>ConnectionStrings:Redis</c>; without it events stay on this instance).</param>
    /// <param name="services">Gives the instance's Redis multiplexers.</param>
    /// <param name="logger">The logger.</param>
    public RedisBookingEvents(RealtimeHub hub, IOptions<RealtimeOptions> options, IConfiguration configuration, IServiceProvider services, ILogger<RedisBookingEvents> logger)
    {
        _hub = hub;
        _options = options.Value;
        _connections = configuration.GetConnectionString("Redis") is null ? null : services.GetRequiredService<RedisConnections>();
        _logger = logger;
        _channel = new RedisChannel(_options.Channel, RedisChannel.PatternMode.Literal);
        _publishes = new PublishObserver(services.GetService<TimeProvider>() ?? TimeProvider.System, _options.PublishTimeout, Published, PublishFailed);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Returns once the event is queued for this instance's streams and handed to the Redis connection; the caller
    /// never waits for Redis's answer (a booking's response went out one Redis round trip later when it did, and a
    /// paused Redis held every write for the whole <see cref="RealtimeOptions.PublishTimeout"/>). Nothing waits for the
    /// answer at all (see <see cref="PublishObserver"/>): it is counted as published, or as a failure (logged once per
    /// outage) when Redis refuses it or does not answer within the timeout. Events from this instance reach Redis in the
    /// order they were published: one connection carries them, in the order they were handed to it.
    /// </remarks>
    public Task PublishAsync(BookingEvent bookingEvent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(bookingEvent);
        if (!EventFrame.IsValidType(bookingEvent.Type) || string.IsNullOrEmpty(bookingEvent.Tenant))
        {
            RealtimeLog.InvalidEvent(_logger, bookingEvent.Type ?? string.Empty);
            RealtimeInstruments.PublishFailures.Add(1, new KeyValuePair<string, object?>("reason", "invalid"));
            return Task.CompletedTask;
        }

        var json = EventFrame.Serialize(bookingEvent);
        _hub.Dispatch(EventFrame.Create(bookingEvent, json));

        var connecting = _connection?.Multiplexer();
        if (connecting is null || !connecting.IsCompletedSuccessfully || connecting.Result is not { IsConnected: true } connection)
        {
            PublishFailed("disconnected", null);
            return Task.CompletedTask;
        }

        Task<long> publish;
        try
        {
            // The message: this instance's origin, a line break, the event's UTF-8 JSON.
            var message = new byte[_origin.Length + 1 + json.Length];
            _origin.CopyTo(message, 0);
            message[_origin.Length] = (byte)'\n';
            json.CopyTo(message, _origin.Length + 1);
            publish = connection.GetSubscriber().PublishAsync(_channel, message);
        }
        catch (Exception e) when (e is RedisException or ObjectDisposedException)
        {
            PublishFailed("error", e);
            return Task.CompletedTask;
        }

        _publishes.Add(publish);
        return Task.CompletedTask;
    }

    /// <summary>Connects to Redis and subscribes in the background (start-up does not wait for Redis).</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_connections is { } connections)
        {
            _connection = new RedisConnection(
                configuration: null,
                () => connections.GetAsync(connections.Primary),
                clientName: "bookinghost",
                onConnected: static _ => Task.CompletedTask,
                onConnectFailed: e => RealtimeLog.SubscribeFailed(_logger, _options.Channel, e),
                onFailed: _ => _hub.IsSubscribed = false,
                onRestored: _ => OnRestored());
            _subscribing = Task.Run(SubscribeAsync, CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    /// <summary>Closes the Redis connection.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_subscribing is { } subscribing)
        {
            await subscribing.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        await CloseAsync();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return; // registered under three service types: disposed once
        }

        await _stopping.CancelAsync();
        _publishes.Dispose();
        await CloseAsync();
    }

    private void OnRestored()
    {
        if (Volatile.Read(ref _subscription) is null)
        {
            return; // the subscribing loop is still at it
        }

        // The multiplexer sends its subscriptions again on the restored connection.
        RealtimeLog.ConnectionRestored(_logger);
        _hub.IsSubscribed = true;
    }

    private async Task SubscribeAsync()
    {
        var stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var connection = await _connection!.Multiplexer().WaitAsync(stopping);
                var subscription = await OrderedSubscription.SubscribeAsync(connection, _channel, OnMessage, TimeSpan.FromSeconds(5)).WaitAsync(stopping);
                Volatile.Write(ref _subscription, subscription);
                _hub.IsSubscribed = connection.IsConnected;
                RealtimeLog.Subscribed(_logger, _options.Channel);
                return;
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                RealtimeLog.SubscribeFailed(_logger, _options.Channel, e);
            }

            await Task.Delay(TimeSpan.FromSeconds(1), stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private void OnMessage(RedisValue message)
    {
        // Read as the bytes that arrived: an instance's own message is recognised and dropped without decoding it.
        var bytes = ((ReadOnlyMemory<byte>)message).Span;
        var newline = bytes.IndexOf((byte)'\n');
        if (newline <= 0 || bytes[..newline].SequenceEqual(_origin))
        {
            return; // this instance's own event: its clients have it already
        }

        try
        {
            if (EventFrame.Parse(bytes[(newline + 1)..]) is { } frame)
            {
                RealtimeInstruments.Received.Add(1);
                _hub.Dispatch(frame);
                return;
            }

            RealtimeLog.BadMessage(_logger, null);
        }
        catch (System.Text.Json.JsonException e)
        {
            RealtimeLog.BadMessage(_logger, e);
        }
    }

    private void Published()
    {
        RealtimeInstruments.Published.Add(1);
        if (Interlocked.Exchange(ref _publishFailing, 0) == 1)
        {
            RealtimeLog.PublishRecovered(_logger);
        }
    }

    private void PublishFailed(string reason, Exception? exception)
    {
        RealtimeInstruments.PublishFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));
        if (Interlocked.Exchange(ref _publishFailing, 1) == 0)
        {
            RealtimeLog.PublishFailing(_logger, reason, exception);
        }
    }

    private async Task CloseAsync()
    {
        _hub.IsSubscribed = false;
        if (Interlocked.Exchange(ref _subscription, null) is { } subscription)
        {
            await subscription.DisposeAsync(); // the shared multiplexer keeps its other subscriptions
        }

        if (Interlocked.Exchange(ref _connection, null) is { } connection)
        {
            await connection.DisposeAsync(); // the multiplexer is the instance's (RedisConnections closes it)
        }
    }
}
