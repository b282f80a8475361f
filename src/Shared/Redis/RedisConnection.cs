using System.Diagnostics;
using StackExchange.Redis;

// BookingHost links this file too; there it lives in its own namespace, so that no type of the host has the same
// documentation id as a package's internal one (ASP.NET Core's OpenAPI XML comment generator fails on such pairs).
#if BOOKINGHOST
namespace BookingHost.Infrastructure;
#else
namespace Scaling;
#endif

/// <summary>
/// The StackExchange.Redis multiplexer a package talks through: either the application's own (from a factory, the
/// convention of <c>Microsoft.Extensions.Caching.StackExchangeRedis</c>; never closed or reconfigured here), or one
/// the package creates from a configuration string (connected in the background with <c>AbortOnConnectFail=false</c>,
/// so a Redis that is down at start-up blocks nothing, and <see cref="BacklogPolicy.FailFast"/>, so a command issued
/// while disconnected fails at once instead of waiting to be sent after the reconnect; closed on dispose). Should
/// getting the multiplexer fail outright, the next <see cref="Multiplexer"/> call tries again, at most once per
/// connect timeout. Shared as source by the packages that talk to Redis.
/// </summary>
internal sealed class RedisConnection : IAsyncDisposable, IDisposable
{
    private readonly ConfigurationOptions? _configuration;
    private readonly Func<Task<IConnectionMultiplexer>>? _factory;
    private readonly Func<IConnectionMultiplexer, Task> _onConnected;
    private readonly Action<Exception> _onConnectFailed;
    private readonly Action<ConnectionFailedEventArgs>? _onFailed;
    private readonly Action<ConnectionFailedEventArgs>? _onRestored;
    private readonly Lock _gate = new();
    private Task<IConnectionMultiplexer>? _connecting;
    private IConnectionMultiplexer? _hooked;
    private long _lastConnectStart;
    private int _isCluster;
    private int _disposed;

    /// <param name="configuration">
    /// The configuration, used when <paramref name="factory"/> is <see langword="null"/> (copied, with
    /// <c>AbortOnConnectFail=false</c> and <see cref="BacklogPolicy.FailFast"/>); the package owns the multiplexer it
    /// creates from it.
    /// </param>
    /// <param name="factory">The application's multiplexer; <see langword="null"/> to create one from <paramref name="configuration"/>.</param>
    /// <param name="clientName">The client name of a multiplexer created here (unless the configuration names one).</param>
    /// <param name="onConnected">Runs once per multiplexer before it is handed out (script loads and the like; nothing that changes its settings).</param>
    /// <param name="onConnectFailed">Told when getting the multiplexer failed outright.</param>
    /// <param name="onFailed">Told when one of the multiplexer's connections failed (handler removed on dispose).</param>
    /// <param name="onRestored">Told when one of its connections was restored (handler removed on dispose).</param>
    internal RedisConnection(
        ConfigurationOptions? configuration,
        Func<Task<IConnectionMultiplexer>>? factory,
        string clientName,
        Func<IConnectionMultiplexer, Task> onConnected,
        Action<Exception> onConnectFailed,
        Action<ConnectionFailedEventArgs>? onFailed = null,
        Action<ConnectionFailedEventArgs>? onRestored = null)
    {
        if (factory is null)
        {
            _configuration = (configuration ?? throw new ArgumentNullException(nameof(configuration))).Clone();
            _configuration.AbortOnConnectFail = false;
            _configuration.BacklogPolicy = BacklogPolicy.FailFast;
            _configuration.ClientName ??= clientName;
        }

        _factory = factory;
        _onConnected = onConnected;
        _onConnectFailed = onConnectFailed;
        _onFailed = onFailed;
        _onRestored = onRestored;
    }

    /// <summary>
    /// Whether the multiplexer, once connected, talks to a Redis Cluster (set before the connected callback runs): there a
    /// publisher's messages may arrive out of order, and a failing master concerns only the slots it serves.
    /// </summary>
    internal bool IsCluster => Volatile.Read(ref _isCluster) == 1;

    /// <summary>Whether the multiplexer is the package's own (created here, closed on dispose).</summary>
    internal bool OwnsMultiplexer => _factory is null;

    /// <summary>The connect timeout (of the configuration string; 5 s, StackExchange.Redis's default, for a factory).</summary>
    internal TimeSpan ConnectTimeout =>
        TimeSpan.FromMilliseconds(Math.Max(_configuration?.ConnectTimeout ?? 5000, 1));

    /// <summary>Redis's clock as seen from here, for deadlines (see <see cref="RedisDeadline"/>).</summary>
    internal RedisClock Clock { get; } = new();

    /// <summary>True when the multiplexer exists and is connected.</summary>
    internal bool IsConnected
    {
        get
        {
            var connecting = Volatile.Read(ref _connecting);
            return connecting is { IsCompletedSuccessfully: true } && connecting.Result.IsConnected;
        }
    }

    /// <summary>Starts getting the multiplexer in the background (once).</summary>
    internal void Start() => Multiplexer();

    /// <summary>The multiplexer, or the task that gets it (started again if the last attempt failed outright).</summary>
    internal Task<IConnectionMultiplexer> Multiplexer()
    {
        var connecting = Volatile.Read(ref _connecting);
        if (connecting is { IsFaulted: false, IsCanceled: false })
        {
            return connecting;
        }

        lock (_gate)
        {
            if (_connecting is null
                || ((_connecting.IsFaulted || _connecting.IsCanceled) && Volatile.Read(ref _disposed) == 0 && Stopwatch.GetElapsedTime(_lastConnectStart) > ConnectTimeout))
            {
                _connecting = StartConnecting();
            }

            return _connecting;
        }
    }

    /// <summary>
    /// A database of the connected multiplexer, waiting at most <paramref name="timeout"/> for it to be made.
    /// </summary>
    /// <exception cref="RedisException">The multiplexer is not connected.</exception>
    /// <exception cref="TimeoutException">The multiplexer was not made within <paramref name="timeout"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    internal ValueTask<IDatabase> DatabaseAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var connecting = Multiplexer();
        return connecting.IsCompletedSuccessfully
            ? ValueTask.FromResult(Connected(connecting.Result))
            : WaitAsync(connecting, timeout, cancellationToken);

        async ValueTask<IDatabase> WaitAsync(Task<IConnectionMultiplexer> connecting, TimeSpan timeout, CancellationToken cancellationToken) =>
            Connected(await connecting.WaitAsync(timeout, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Lets go of the multiplexer: a borrowed one is left open (only this package's handlers are removed), an owned one is closed (waiting at most 5 s).</summary>
    internal async ValueTask DisposeAsync(Action<Exception> onCloseFailed)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var connecting = Volatile.Read(ref _connecting);
        if (connecting is null)
        {
            return;
        }

        try
        {
            var connection = await connecting.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            Unhook();
            if (OwnsMultiplexer)
            {
                await connection.CloseAsync(allowCommandsToComplete: false).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                connection.Dispose();
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException or OperationCanceledException)
        {
            onCloseFailed(ex);
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => DisposeAsync(static _ => { });

    /// <summary>Lets go of the multiplexer without waiting (an owned one is disposed now, or when a pending connect completes).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var connecting = Volatile.Read(ref _connecting);
        if (connecting is null)
        {
            return;
        }

        if (connecting.IsCompletedSuccessfully)
        {
            Release(connecting.Result);
        }
        else
        {
            connecting.ContinueWith(t => Release(t.Result), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        }
    }

    private IDatabase Connected(IConnectionMultiplexer connection)
    {
        if (!connection.IsConnected)
        {
            throw new RedisException("Not connected to Redis.");
        }

        Clock.RefreshIfStale(connection, ConnectTimeout);
        return connection.GetDatabase();
    }

    private void Release(IConnectionMultiplexer connection)
    {
        Unhook();
        if (OwnsMultiplexer)
        {
            connection.Dispose();
        }
    }

    private Task<IConnectionMultiplexer> StartConnecting()
    {
        _lastConnectStart = Stopwatch.GetTimestamp();
        var connecting = Task.Run(async () =>
        {
            var connection = _factory is null
                ? await ConnectionMultiplexer.ConnectAsync(_configuration!.Clone()).ConfigureAwait(false)
                : await _factory().ConfigureAwait(false) ?? throw new InvalidOperationException("The connection multiplexer factory returned null.");
            Hook(connection);
            await Clock.MeasureAsync(connection, ConnectTimeout).ConfigureAwait(false);
            if (connection.GetEndPoints().Any(endPoint => connection.GetServer(endPoint).ServerType == ServerType.Cluster))
            {
                Volatile.Write(ref _isCluster, 1);
            }

            await _onConnected(connection).ConfigureAwait(false);
            return connection;
        });
        connecting.ContinueWith(
            t => _onConnectFailed(t.Exception!.GetBaseException()),
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        return connecting;
    }

    private void Hook(IConnectionMultiplexer connection)
    {
        lock (_gate)
        {
            if (_hooked is not null || Volatile.Read(ref _disposed) != 0)
            {
                return;
            }

            _hooked = connection;
            connection.ConnectionFailed += OnConnectionFailed;
            connection.ConnectionRestored += OnConnectionRestored;
        }
    }

    private void Unhook()
    {
        lock (_gate)
        {
            if (_hooked is { } connection)
            {
                connection.ConnectionFailed -= OnConnectionFailed;
                connection.ConnectionRestored -= OnConnectionRestored;
                _hooked = null;
            }
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e) => _onFailed?.Invoke(e);

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        Clock.Invalidate(); // the server may have restarted (or failed over) with another clock
        _onRestored?.Invoke(e);
    }
}
