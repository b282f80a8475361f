using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Scaling.Cache;

/// <summary>
/// The Redis side of the cache, and the only class of Scaling.Cache that talks to Redis: every command (L2 reads and
/// writes, tag versions, backplane publishes and the subscription) is a method here, and no StackExchange.Redis
/// database, subscriber or multiplexer is handed out. It holds the multiplexer (the application's, or one made in the
/// background so a Redis that is down at start-up blocks nothing; see <see cref="RedisConnection"/>), a circuit breaker
/// in front of every operation, a timeout on each, a deadline on each write (a write that reaches Redis after its
/// timeout is refused there, see <see cref="RedisDeadline"/>), the publisher's sequence numbers, and the backplane
/// subscription, read in order, with its reconnect signal.
/// </summary>
internal sealed class RedisTier : IAsyncDisposable, IDisposable
{
    // Write (a value or a removal's tombstone) and announce in one round trip, so an invalidation is never
    // announced without its write, nor a write left unannounced.
    private const string SetAndPublishScript = RedisDeadline.Guard +
        "redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2]) redis.call('publish', ARGV[3], ARGV[4]) return 1";

    // A factory's result is written unless what is there (a value or a tombstone) was created after the factory
    // started reading: a slow factory never overwrites a newer Set or a Remove. Bytes 10-17 (1-based) of the
    // envelope are its creation time.
    private const string SetIfNotNewerScript = RedisDeadline.Guard +
        "local cur = redis.call('get', KEYS[1]) " +
        "if cur and string.len(cur) >= 17 and struct.unpack('<i8', cur, 10) > tonumber(ARGV[3]) then return 0 end " +
        "redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2]) return 1";

    // The new version is part of the message, so receivers need no second round trip.
    private const string InvalidateTagScript = RedisDeadline.Guard +
        "local v = redis.call('hincrby', KEYS[1], ARGV[1], 1) " +
        "if v < tonumber(ARGV[4]) then v = tonumber(ARGV[4]) redis.call('hset', KEYS[1], ARGV[1], v) end " +
        "redis.call('publish', ARGV[2], ARGV[3] .. v .. '|' .. ARGV[1]) return v";

    /// <summary>How often an echo is sent while a lost subscription is not confirmed yet.</summary>
    private static readonly TimeSpan EchoInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>How long the multiplexer is left to restore a subscription before it is made again.</summary>
    private static readonly TimeSpan ResubscribeAfter = TimeSpan.FromSeconds(5);

    /// <summary>How often a subscription made again is retried while it fails.</summary>
    private static readonly TimeSpan ResubscribeRetry = TimeSpan.FromSeconds(1);

    private readonly TimeSpan _timeout;
    private readonly string _instanceId;
    private readonly Lock _publishGate = new();
    private readonly RedisCircuitBreaker _breaker = new();
    private readonly TimeSpan _breakDuration;
    private readonly double _breakSeconds;
    private readonly string _prefix;
    private readonly ILogger _logger;
    private readonly CacheInstruments _instruments;
    private readonly Action<string?> _onMessage;
    private readonly Action _onSubscribed;
    private readonly Action _onRecovered;
    private readonly RedisConnection _connection;
    private readonly RedisKey[] _tagVersionKeys;
    private readonly RedisKey _legacyTagVersionsKey;
    private readonly RedisChannel _channel;
    private readonly RedisValue _channelName;
    private readonly string _echoPrefix;
    private readonly byte[] _ownHeader; // how every message of this instance starts, in UTF-8: "1|{instance}|"
    private readonly byte[] _echoHeader; // _echoPrefix in UTF-8
    private OrderedSubscription? _subscription;
    private TaskCompletionSource<long>? _echo;
    private long _sequence;
    private long _echoNonce;
    private int _confirming;
    private int _subscribed;
    private int _lostSinceSubscribed; // connections that failed since the subscription was made, not yet restored
    private int _probing;
    private int _disposed;

    /// <param name="options">The validated options (connection, key prefix, timeout, break duration).</param>
    /// <param name="instanceId">The publisher id the cache's backplane messages carry.</param>
    /// <param name="logger">The cache's logger.</param>
    /// <param name="instruments">The cache's instruments.</param>
    /// <param name="onMessage">Gets each backplane message (its text), one at a time, in the order Redis delivered them; must not throw.</param>
    /// <param name="onSubscribed">Told each time the subscription is (again) in place.</param>
    /// <param name="onRecovered">Told when Redis answers again after the breaker opened.</param>
    internal RedisTier(
        ScalingCacheOptions options,
        string instanceId,
        ILogger logger,
        CacheInstruments instruments,
        Action<string?> onMessage,
        Action onSubscribed,
        Action onRecovered)
    {
        _timeout = options.DistributedCacheTimeout;
        _instanceId = instanceId;
        _breakDuration = options.CircuitBreakDuration;
        _logger = logger;
        _instruments = instruments;
        _onMessage = onMessage;
        _onSubscribed = onSubscribed;
        _onRecovered = onRecovered;
        _prefix = options.KeyPrefix;
        _tagVersionKeys = TagVersionKeys.For(options.KeyPrefix);
        _legacyTagVersionsKey = options.KeyPrefix + "tag-versions";
        _channelName = options.KeyPrefix + "backplane";
        _echoPrefix = BackplaneMessage.Header(instanceId, 0) + BackplaneMessage.Echo + "|";
        _ownHeader = Encoding.UTF8.GetBytes(BackplaneMessage.PublisherPrefix(instanceId));
        _echoHeader = Encoding.UTF8.GetBytes(_echoPrefix);
        _channel = new RedisChannel(options.KeyPrefix + "backplane", RedisChannel.PatternMode.Literal);
        _breakSeconds = options.CircuitBreakDuration.TotalSeconds;
        _connection = new RedisConnection(
            options.ConnectionMultiplexerFactory is null ? ConfigurationOptions.Parse(options.RedisConfiguration!) : null,
            options.ConnectionMultiplexerFactory,
            clientName: "scaling-cache",
            onConnected: OnConnected,
            onConnectFailed: ex => Fail("connect", ex.Message),
            onFailed: failure =>
            {
                Interlocked.Increment(ref _lostSinceSubscribed);
                Fail("backplane", "connection lost");
                _ = ConfirmSubscriptionAsync();
            },
            onRestored: _ => SubscribeOrResync()); // the multiplexer subscribes again itself; what was published meanwhile is lost
        instruments.ObserveRedis(() => !IsAvailable);
    }

    /// <summary>Starts connecting (and subscribing) in the background; called once the owning cache is fully built.</summary>
    internal void Start() => _connection.Start();

    /// <summary>True while the breaker is closed and the connection is up.</summary>
    internal bool IsAvailable =>
        !_breaker.IsDegraded && _connection.IsConnected;

    /// <summary>True once connected to a Redis Cluster (where a publisher's messages may arrive out of order).</summary>
    internal bool IsCluster => _connection.IsCluster;

    /// <summary>True while the backplane subscription is in place.</summary>
    internal bool IsSubscribed => Volatile.Read(ref _subscribed) == 1 && IsAvailable;

    /// <summary>
    /// The L2 bytes of <paramref name="key"/> (<c>GET</c>); null when there are none, or when Redis is not used now
    /// or failed (the breaker then opens). The caller's cancellation is rethrown.
    /// </summary>
    internal async ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var database = await BeginAsync("get", cancellationToken).ConfigureAwait(false);
        if (database is null)
        {
            return null;
        }

        var (ok, value) = await CompleteAsync(database.StringGetAsync(EntryKey(key)), "get", cancellationToken).ConfigureAwait(false);
        return ok && !value.IsNull ? (byte[]?)value : null;
    }

    /// <summary>
    /// Writes a factory's result for <paramref name="ttl"/>, unless what L2 holds for the key was created after
    /// <paramref name="startedUnix"/> (see <see cref="SetIfNotNewerScript"/>). Not announced: nothing changed that
    /// another instance may hold. False when Redis was not used or failed.
    /// </summary>
    internal async Task<bool> SetIfNotNewerAsync(string key, byte[] payload, TimeSpan ttl, long startedUnix)
    {
        var database = await BeginAsync("set", CancellationToken.None).ConfigureAwait(false);
        if (database is null)
        {
            return false;
        }

        var (ok, _) = await CompleteAsync(
            database.ScriptEvaluateAsync(SetIfNotNewerScript, [EntryKey(key)], [payload, Milliseconds(ttl), startedUnix, Deadline()]),
            "set",
            CancellationToken.None).ConfigureAwait(false);
        return ok;
    }

    /// <summary>
    /// Writes a value or a tombstone to L2 for <paramref name="ttl"/> and announces the key on the backplane, in one
    /// script call; false when Redis was unavailable or failed (the sequence number is spent anyway, so receivers
    /// see the gap).
    /// </summary>
    internal Task<bool> SetAndAnnounceAsync(string operation, string key, byte[] payload, TimeSpan ttl, CancellationToken cancellationToken) =>
        AnnounceAsync(
            operation,
            (database, header) => database.ScriptEvaluateAsync(
                SetAndPublishScript,
                [EntryKey(key)],
                [payload, Milliseconds(ttl), _channelName, header + BackplaneMessage.KeyChanged + "|" + key, Deadline()]),
            cancellationToken);

    /// <summary>
    /// Increments the tag's version in Redis and announces it, in one script call; the new version, or null when
    /// Redis was unavailable or failed. The new version is at least <paramref name="atLeast"/>: past every version this
    /// instance stamped, including versions it advanced on its own while Redis was unavailable.
    /// </summary>
    internal async Task<long?> InvalidateTagAsync(string operation, string tag, long atLeast, CancellationToken cancellationToken)
    {
        long version = 0;
        var ok = await AnnounceAsync(
            operation,
            async (database, header) => version = (long)await database.ScriptEvaluateAsync(
                InvalidateTagScript,
                [_tagVersionKeys[TagVersionKeys.Bucket(tag)]],
                [tag, _channelName, header + BackplaneMessage.TagInvalidated + "|", atLeast, Deadline()]).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        return ok ? version : null;
    }

    /// <summary>Asks every instance to flush its L1 (<c>PUBLISH</c>); false when Redis was unavailable or failed.</summary>
    internal Task<bool> AnnounceFlushAsync(string operation) =>
        AnnounceAsync(
            operation,
            (database, header) => database.PublishAsync(_channel, header + BackplaneMessage.FlushAll + "|"),
            CancellationToken.None);

    /// <summary>
    /// The database to run one operation on (from the shared <see cref="RedisConnection.DatabaseAsync"/>), or null when
    /// Redis is not to be used now (breaker open, not connected; the latter opens the breaker). Costs one volatile read
    /// while the breaker is open.
    /// </summary>
    private ValueTask<IDatabase?> BeginAsync(string operation, CancellationToken cancellationToken)
    {
        if (!_breaker.TryEnter(_breakDuration))
        {
            return ValueTask.FromResult<IDatabase?>(null);
        }

        ValueTask<IDatabase> database;
        try
        {
            database = _connection.DatabaseAsync(_timeout, cancellationToken);
        }
        catch (RedisException ex)
        {
            Fail(operation, ex.Message);
            return ValueTask.FromResult<IDatabase?>(null);
        }

        return database.IsCompletedSuccessfully ? ValueTask.FromResult<IDatabase?>(database.Result) : WaitForConnectionAsync(database, operation, cancellationToken);
    }

    /// <summary>
    /// Awaits one operation within the timeout; false (and the breaker opened) when it failed or timed out.
    /// The caller's cancellation is rethrown and does not count as a Redis failure.
    /// </summary>
    private async Task<(bool Ok, T? Value)> CompleteAsync<T>(Task<T> operation, string name, CancellationToken cancellationToken)
    {
        try
        {
            var value = await operation.WaitAsync(_timeout, cancellationToken).ConfigureAwait(false);
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
            Fail(name, ex is TimeoutException || RedisDeadline.IsLate(ex) ? string.Create(CultureInfo.InvariantCulture, $"no answer within {_timeout.TotalMilliseconds:0} ms") : ex.Message);
            return (false, default);
        }
    }

    /// <summary>Every tag version Redis holds (after a (re)subscription); null when Redis did not answer.</summary>
    internal async Task<List<KeyValuePair<string, long>>?> LoadTagVersionsAsync()
    {
        var database = await BeginAsync("load tag versions", CancellationToken.None).ConfigureAwait(false);
        if (database is null)
        {
            return null;
        }

        // One HGETALL per bucket, sent together (one round trip on one Redis; one per master on a cluster), and one of the
        // single hash that held every version before 0.7, so that a tag's version never goes back across an upgrade.
        var reads = new Task<HashEntry[]>[_tagVersionKeys.Length + 1];
        for (var i = 0; i < _tagVersionKeys.Length; i++)
        {
            reads[i] = database.HashGetAllAsync(_tagVersionKeys[i]);
        }

        reads[^1] = database.HashGetAllAsync(_legacyTagVersionsKey);

        var (ok, buckets) = await CompleteAsync(Task.WhenAll(reads), "load tag versions", CancellationToken.None).ConfigureAwait(false);
        if (!ok || buckets is null)
        {
            return null;
        }

        var versions = new List<KeyValuePair<string, long>>();
        foreach (var entries in buckets)
        {
            foreach (var entry in entries)
            {
                if (!entry.Name.IsNullOrEmpty && entry.Value.TryParse(out long version))
                {
                    versions.Add(new KeyValuePair<string, long>(entry.Name!, version));
                }
            }
        }

        return versions;
    }

    public async ValueTask DisposeAsync()
    {
        Volatile.Write(ref _disposed, 1);
        if (Interlocked.Exchange(ref _subscription, null) is { } subscription)
        {
            await subscription.DisposeAsync().ConfigureAwait(false); // a shared multiplexer keeps its other subscriptions
        }

        await _connection.DisposeAsync(static _ => { }).ConfigureAwait(false); // closing a connection to a Redis that is gone: nothing to release
    }

    public void Dispose()
    {
        Volatile.Write(ref _disposed, 1);
        if (Interlocked.Exchange(ref _subscription, null) is { } subscription)
        {
            _ = subscription.DisposeAsync().AsTask();
        }

        _connection.Dispose();
    }

    private static RedisValue Milliseconds(TimeSpan duration) => (long)Math.Ceiling(duration.TotalMilliseconds);

    private static async Task<object?> AsObjectTask(Task task)
    {
        await task.ConfigureAwait(false);
        return null;
    }

    private RedisKey EntryKey(string key) => _prefix + key;

    /// <summary>The deadline of a write sent now (the last argument of every write script).</summary>
    private RedisValue Deadline() => _connection.Clock.Deadline(_timeout);

    /// <summary>
    /// Runs one announcing command with the next sequence number of this publisher. Numbers are taken and commands
    /// queued under one lock, so they leave in order and receivers see no false gaps; when Redis is not used the
    /// number is spent anyway.
    /// </summary>
    private async Task<bool> AnnounceAsync(string operation, Func<IDatabase, string, Task> send, CancellationToken cancellationToken)
    {
        var database = await BeginAsync(operation, cancellationToken).ConfigureAwait(false);
        if (database is null)
        {
            Interlocked.Increment(ref _sequence);
            return false;
        }

        Task sending;
        lock (_publishGate)
        {
            var sequence = Interlocked.Increment(ref _sequence);
            sending = send(database, BackplaneMessage.Header(_instanceId, sequence));
        }

        var (ok, _) = await CompleteAsync(AsObjectTask(sending), operation, cancellationToken).ConfigureAwait(false);
        if (ok)
        {
            _instruments.BackplaneMessages.Add(1, new KeyValuePair<string, object?>("direction", "sent"));
        }

        return ok;
    }

    private static void Observe(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private async ValueTask<IDatabase?> WaitForConnectionAsync(ValueTask<IDatabase> connecting, string operation, CancellationToken cancellationToken)
    {
        try
        {
            return await connecting.ConfigureAwait(false);
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
            CacheLog.DistributedUnavailable(_logger, operation, reason, _breakSeconds);
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
                await Task.Delay(_breakDuration).ConfigureAwait(false);
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

    private Task OnConnected(IConnectionMultiplexer connection)
    {
        SubscribeOrResync();
        return Task.CompletedTask;
    }

    private void SubscribeOrResync() => _ = SubscribeOrResyncAsync();

    private async Task SubscribeOrResyncAsync()
    {
        if (Volatile.Read(ref _disposed) == 1)
        {
            return;
        }

        if (Volatile.Read(ref _subscribed) == 0)
        {
            try
            {
                var connection = await _connection.Multiplexer().WaitAsync(_timeout).ConfigureAwait(false);
                var subscription = await OrderedSubscription.SubscribeAsync(connection, _channel, OnSubscriptionMessage, _timeout).ConfigureAwait(false);
                if (Interlocked.CompareExchange(ref _subscribed, 1, 0) != 0)
                {
                    // Another call (the first connect racing a restored connection at start-up) subscribed first, and it
                    // tells the cache; telling it twice would count a reconnect that never happened (and flush L1).
                    await subscription.DisposeAsync().ConfigureAwait(false);
                    return;
                }
                else
                {
                    Volatile.Write(ref _lostSinceSubscribed, 0); // failures before the first subscription lost nothing
                    Volatile.Write(ref _subscription, subscription);
                    if (Volatile.Read(ref _disposed) == 1 && Interlocked.Exchange(ref _subscription, null) is { } late)
                    {
                        await late.DisposeAsync().ConfigureAwait(false);
                        return;
                    }
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
            {
                CacheLog.SubscribeFailed(_logger, ex);
                return;
            }
        }
        else if (!TakeLostConnection())
        {
            // Subscribed, and no connection failed since: StackExchange.Redis also reports its subscription
            // connection's first connect, when that completes after ConnectAsync returned, as "restored". Nothing was
            // missed, so this is not a reconnect (telling the cache would flush L1).
            return;
        }

        _onSubscribed();
    }

    private void OnSubscriptionMessage(RedisValue message)
    {
        // Read as the bytes that arrived: this instance's own messages, which Redis sends back to it like every other
        // subscriber's (one in two of what each of two instances receives), are recognised and dropped undecoded.
        var bytes = ((ReadOnlyMemory<byte>)message).Span;
        if (bytes.StartsWith(_ownHeader))
        {
            // Only its echo means something here: the subscription delivers again.
            if (bytes.StartsWith(_echoHeader)
                && long.TryParse(bytes[_echoHeader.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var nonce))
            {
                Volatile.Read(ref _echo)?.TrySetResult(nonce);
            }

            return;
        }

        _onMessage((string?)message);
    }

    /// <summary>
    /// After a connection failed, proves that the subscription delivers again before telling the cache it is back (which
    /// flushes L1): publishes an echo every <see cref="EchoInterval"/> until it comes back on the subscription. A lost
    /// connection is not always restored: on a Redis Cluster the node that held the subscription may be gone for good
    /// (its replica took its slots), and the multiplexer moves the subscription elsewhere without reporting a restored
    /// connection. If no echo returns for <see cref="ResubscribeAfter"/>, the subscription is made again, from scratch.
    /// </summary>
    private async Task ConfirmSubscriptionAsync()
    {
        if (Interlocked.Exchange(ref _confirming, 1) == 1)
        {
            return;
        }

        try
        {
            var since = Stopwatch.StartNew();
            var confirm = Volatile.Read(ref _subscribed) == 1; // before the first subscription there is nothing to restore
            while (confirm && Volatile.Read(ref _disposed) == 0 && Volatile.Read(ref _lostSinceSubscribed) > 0)
            {
                await Task.Delay(EchoInterval).ConfigureAwait(false);
                if (Volatile.Read(ref _subscribed) == 0)
                {
                    // The subscription made again below failed: try again once a second (a new one resets the lost count and
                    // tells the cache; each failure is logged).
                    await SubscribeOrResyncAsync().ConfigureAwait(false);
                    await Task.Delay(ResubscribeRetry).ConfigureAwait(false);
                    continue;
                }

                if (await EchoAsync().ConfigureAwait(false))
                {
                    if (TakeAllLostConnections())
                    {
                        CacheLog.SubscriptionConfirmed(_logger, since.Elapsed.TotalMilliseconds);
                        _onSubscribed();
                    }

                    return;
                }

                if (since.Elapsed >= ResubscribeAfter)
                {
                    CacheLog.Resubscribing(_logger, since.Elapsed.TotalMilliseconds);
                    if (Interlocked.Exchange(ref _subscription, null) is { } stale)
                    {
                        await stale.DisposeAsync().ConfigureAwait(false);
                    }

                    Volatile.Write(ref _subscribed, 0);
                    await SubscribeOrResyncAsync().ConfigureAwait(false); // a new subscription tells the cache itself
                    since.Restart();
                }
            }
        }
        finally
        {
            Volatile.Write(ref _confirming, 0);
        }

        // A failure reported while this loop was ending is confirmed by another round.
        if (Volatile.Read(ref _disposed) == 0 && Volatile.Read(ref _lostSinceSubscribed) > 0 && Volatile.Read(ref _subscribed) == 1)
        {
            _ = ConfirmSubscriptionAsync();
        }
    }

    /// <summary>Publishes one echo and waits (at most the timeout) for it to come back on the subscription.</summary>
    private async Task<bool> EchoAsync()
    {
        var nonce = Interlocked.Increment(ref _echoNonce);
        var echo = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _echo, echo);
        try
        {
            var connection = await _connection.Multiplexer().WaitAsync(_timeout).ConfigureAwait(false);
            await connection.GetSubscriber().PublishAsync(_channel, _echoPrefix + nonce.ToString(CultureInfo.InvariantCulture)).WaitAsync(_timeout).ConfigureAwait(false);
            using var deadline = new CancellationTokenSource(_timeout);
            while (await echo.Task.WaitAsync(deadline.Token).ConfigureAwait(false) != nonce)
            {
                echo = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
                Volatile.Write(ref _echo, echo); // a late echo of an earlier round
            }

            return true;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or OperationCanceledException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Counts every failed connection as restored; false when none had failed.</summary>
    private bool TakeAllLostConnections() => Interlocked.Exchange(ref _lostSinceSubscribed, 0) > 0;

    /// <summary>Counts one failed connection as restored; false when none had failed.</summary>
    private bool TakeLostConnection()
    {
        while (true)
        {
            var lost = Volatile.Read(ref _lostSinceSubscribed);
            if (lost == 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _lostSinceSubscribed, lost - 1, lost) == lost)
            {
                return true;
            }
        }
    }
}
