using System.Globalization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Scaling.Cache;

/// <summary>
/// The Redis side of the cache: one multiplexer (connected in the background, so a Redis that is down at
/// start-up blocks nothing), a circuit breaker in front of every L2 operation, a timeout on each (StackExchange.Redis
/// 1.x does not bound asynchronous commands), and the backplane subscription with its reconnect signal.
/// </summary>
internal sealed class RedisTier : IAsyncDisposable, IDisposable
{
    // Write (a value or a removal's tombstone) and announce in one round trip, so an invalidation is never
    // announced without its write, nor a write left unannounced.
    internal const string SetAndPublishScript =
        "redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2]) redis.call('publish', ARGV[3], ARGV[4]) return 1";

    // A factory's result is written unless what is there (a value or a tombstone) was created after the factory
    // started reading: a slow factory never overwrites a newer Set or a Remove. Bytes 10-17 (1-based) of the
    // envelope are its creation time.
    internal const string SetIfNotNewerScript =
        "local cur = redis.call('get', KEYS[1]) " +
        "if cur and string.len(cur) >= 17 and struct.unpack('<i8', cur, 10) > tonumber(ARGV[3]) then return 0 end " +
        "redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2]) return 1";

    // The new version is part of the message, so receivers need no second round trip.
    internal const string InvalidateTagScript =
        "local v = redis.call('hincrby', KEYS[1], ARGV[1], 1) redis.call('publish', ARGV[2], ARGV[3] .. v .. '|' .. ARGV[1]) return v";

    private readonly TimeSpan _timeout;
    private readonly RedisCircuitBreaker _breaker = new();
    private readonly TimeSpan _breakDuration;
    private readonly ILogger _logger;
    private readonly CacheInstruments _instruments;
    private readonly Action<RedisValue> _onMessage;
    private readonly Action _onSubscribed;
    private readonly Action _onRecovered;
    private readonly RedisConnector _connector;
    private int _subscribed;
    private int _probing;
    private int _disposed;

    internal RedisTier(
        ScalingCacheOptions options,
        ILogger logger,
        CacheInstruments instruments,
        Action<RedisValue> onMessage,
        Action onSubscribed,
        Action onRecovered)
    {
        _timeout = options.DistributedCacheTimeout;
        _breakDuration = options.CircuitBreakDuration;
        _logger = logger;
        _instruments = instruments;
        _onMessage = onMessage;
        _onSubscribed = onSubscribed;
        _onRecovered = onRecovered;
        Prefix = options.KeyPrefix;
        TagVersionsKey = options.KeyPrefix + "tag-versions";
        Channel = new RedisChannel(options.KeyPrefix + "backplane", RedisChannel.PatternMode.Literal);
        BreakSeconds = options.CircuitBreakDuration.TotalSeconds;
        var configuration = ConfigurationOptions.Parse(options.RedisConfiguration!);
        configuration.ClientName ??= "scaling-cache";
        _connector = new RedisConnector(configuration, OnConnected, ex => Fail("connect", ex.Message));
    }

    internal string Prefix { get; }

    /// <summary>Starts connecting (and subscribing) in the background; called once the owning cache is fully built.</summary>
    internal void Start() => _connector.Start();

    internal RedisKey TagVersionsKey { get; }

    internal RedisChannel Channel { get; }

    internal double BreakSeconds { get; }

    /// <summary>True while the breaker is closed and the connection is up.</summary>
    internal bool IsAvailable =>
        !_breaker.IsDegraded && _connector.IsConnected;

    /// <summary>True while the backplane subscription is in place.</summary>
    internal bool IsSubscribed => Volatile.Read(ref _subscribed) == 1 && IsAvailable;

    internal RedisKey EntryKey(string key) => Prefix + key;

    /// <summary>
    /// The database to run one operation on, or null when Redis is not to be used now (breaker open, not
    /// connected; the latter opens the breaker). Costs one volatile read while the breaker is open.
    /// </summary>
    internal ValueTask<IDatabase?> BeginAsync(string operation, CancellationToken cancellationToken)
    {
        if (!_breaker.TryEnter(_breakDuration))
        {
            return ValueTask.FromResult<IDatabase?>(null);
        }

        var connecting = _connector.Connection();
        return connecting.IsCompletedSuccessfully
            ? ValueTask.FromResult(Database(connecting.Result, operation))
            : WaitForConnectionAsync(connecting, operation, cancellationToken);
    }

    /// <summary>
    /// Awaits one operation within the timeout; false (and the breaker opened) when it failed or timed out.
    /// The caller's cancellation is rethrown and does not count as a Redis failure.
    /// </summary>
    internal async Task<(bool Ok, T? Value)> CompleteAsync<T>(Task<T> operation, string name, CancellationToken cancellationToken)
    {
        try
        {
            var pending = !operation.IsCompleted;
            var value = await operation.WaitAsync(_timeout, cancellationToken).ConfigureAwait(false);
            if (pending)
            {
                // StackExchange.Redis 1.2.6 with PreserveAsyncOrder (kept on for the backplane's ordered messages)
                // completes every command on one ordered thread: leave it at once, so the caller's code (the rest of a
                // request) never runs there and holds up every other reply of this connection.
                await Task.Yield();
            }

            if (_breaker.OnSuccess() is not null)
            {
                CacheLog.DistributedRecovered(_logger);
                _onRecovered();
            }

            return (true, value);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Observe(operation);
            _breaker.AbandonProbe(); // if this was the half-open probe, the next call probes instead
            throw;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException or InvalidOperationException)
        {
            Observe(operation);
            Fail(name, ex is TimeoutException ? string.Create(CultureInfo.InvariantCulture, $"no answer within {_timeout.TotalMilliseconds:0} ms") : ex.Message);
            return (false, default);
        }
    }

    /// <summary>Every tag version Redis holds (after a (re)subscription); null when Redis did not answer.</summary>
    internal async Task<HashEntry[]?> LoadTagVersionsAsync()
    {
        var database = await BeginAsync("load tag versions", CancellationToken.None).ConfigureAwait(false);
        if (database is null)
        {
            return null;
        }

        var (ok, entries) = await CompleteAsync(database.HashGetAllAsync(TagVersionsKey), "load tag versions", CancellationToken.None).ConfigureAwait(false);
        return ok ? entries : null;
    }

    public ValueTask DisposeAsync()
    {
        Volatile.Write(ref _disposed, 1);
        return _connector.DisposeAsync(static _ => { }); // closing a connection to a Redis that is gone: nothing to release
    }

    public void Dispose()
    {
        Volatile.Write(ref _disposed, 1);
        _connector.Dispose();
    }

    private static void Observe(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private IDatabase? Database(ConnectionMultiplexer connection, string operation)
    {
        if (connection.IsConnected)
        {
            return connection.GetDatabase();
        }

        Fail(operation, "not connected");
        return null;
    }

    private async ValueTask<IDatabase?> WaitForConnectionAsync(Task<ConnectionMultiplexer> connecting, string operation, CancellationToken cancellationToken)
    {
        try
        {
            var connection = await connecting.WaitAsync(_timeout, cancellationToken).ConfigureAwait(false);
            return Database(connection, operation);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _breaker.AbandonProbe();
            throw;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Fail(operation, ex is TimeoutException ? "still connecting" : ex.Message);
            return null;
        }
    }

    private void Fail(string operation, string reason)
    {
        _instruments.DistributedErrors.Add(1, new KeyValuePair<string, object?>("operation", operation));
        if (_breaker.OnFailure(threshold: 1))
        {
            CacheLog.DistributedUnavailable(_logger, operation, reason, BreakSeconds);
            _ = ProbeUntilAvailableAsync();
        }
    }

    /// <summary>
    /// While the breaker is open, pings Redis once per break duration, so that recovery (and the replay of
    /// invalidations that could not be sent) does not wait for the application's next cache call.
    /// </summary>
    private async Task ProbeUntilAvailableAsync()
    {
        if (Interlocked.Exchange(ref _probing, 1) == 1)
        {
            return;
        }

        try
        {
            while (Volatile.Read(ref _disposed) == 0 && _breaker.IsDegraded)
            {
                await Task.Delay(TimeSpan.FromSeconds(BreakSeconds)).ConfigureAwait(false);
                var database = await BeginAsync("probe", CancellationToken.None).ConfigureAwait(false);
                if (database is not null)
                {
                    await CompleteAsync(database.PingAsync(), "probe", CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            Volatile.Write(ref _probing, 0);
        }
    }

    private Task OnConnected(ConnectionMultiplexer connection)
    {
        connection.ConnectionFailed += (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Subscription)
            {
                Fail("backplane", e.FailureType.ToString());
            }
        };
        connection.ConnectionRestored += (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Subscription)
            {
                // The multiplexer re-sends its subscriptions itself; what was published meanwhile is lost.
                _ = SubscribeOrResyncAsync(connection);
            }
        };
        _ = SubscribeOrResyncAsync(connection);
        return Task.CompletedTask;
    }

    private async Task SubscribeOrResyncAsync(ConnectionMultiplexer connection)
    {
        if (Volatile.Read(ref _subscribed) == 0)
        {
            try
            {
                await connection.GetSubscriber()
                    .SubscribeAsync(Channel, (_, message) => _onMessage(message))
                    .WaitAsync(_timeout).ConfigureAwait(false);
                Volatile.Write(ref _subscribed, 1);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
            {
                CacheLog.SubscribeFailed(_logger, ex);
                return;
            }
        }

        _onSubscribed();
    }
}
