using System.Diagnostics;
using StackExchange.Redis;

namespace Scaling;

/// <summary>
/// One StackExchange.Redis multiplexer, connected in the background (<c>AbortOnConnectFail = false</c>, so a Redis
/// that is down at start-up blocks nothing and the multiplexer reconnects by itself). Should the connect fail
/// outright (for example a host name that does not resolve), the next <see cref="Connection"/> call starts again, at
/// most once per connect timeout. Shared as source by the packages that talk to Redis.
/// </summary>
internal sealed class RedisConnector : IAsyncDisposable, IDisposable
{
    private readonly ConfigurationOptions _configuration;
    private readonly Func<ConnectionMultiplexer, Task> _onConnected;
    private readonly Action<Exception> _onConnectFailed;
    private readonly Lock _gate = new();
    private Task<ConnectionMultiplexer>? _connecting;
    private long _lastConnectStart;
    private int _disposed;

    /// <param name="configuration">The configuration; <c>AbortOnConnectFail</c> is set to false.</param>
    /// <param name="onConnected">Runs once per new multiplexer before it is handed out (client tuning, event handlers, script loads).</param>
    /// <param name="onConnectFailed">Told when a connect attempt failed outright.</param>
    internal RedisConnector(ConfigurationOptions configuration, Func<ConnectionMultiplexer, Task> onConnected, Action<Exception> onConnectFailed)
    {
        _configuration = configuration;
        _configuration.AbortOnConnectFail = false;
        _onConnected = onConnected;
        _onConnectFailed = onConnectFailed;
    }

    /// <summary>The connect timeout of the configuration.</summary>
    internal TimeSpan ConnectTimeout => TimeSpan.FromMilliseconds(Math.Max(_configuration.ConnectTimeout, 1));

    /// <summary>True when the multiplexer exists and is connected.</summary>
    internal bool IsConnected
    {
        get
        {
            var connecting = Volatile.Read(ref _connecting);
            return connecting is { IsCompletedSuccessfully: true } && connecting.Result.IsConnected;
        }
    }

    /// <summary>Starts connecting in the background (once).</summary>
    internal void Start() => Connection();

    /// <summary>The multiplexer, or the task that makes it (started again if the last attempt failed outright).</summary>
    internal Task<ConnectionMultiplexer> Connection()
    {
        var connecting = Volatile.Read(ref _connecting);
        if (connecting is { IsFaulted: false })
        {
            return connecting;
        }

        lock (_gate)
        {
            if (_connecting is null
                || (_connecting.IsFaulted && Volatile.Read(ref _disposed) == 0 && Stopwatch.GetElapsedTime(_lastConnectStart) > ConnectTimeout))
            {
                _connecting = StartConnecting();
            }

            return _connecting;
        }
    }

    /// <summary>Closes the connection (waiting at most 5 s for it); what fails is handed to <paramref name="onCloseFailed"/>.</summary>
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
            await connection.CloseAsync(allowCommandsToComplete: false).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            connection.Dispose();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            onCloseFailed(ex);
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => DisposeAsync(static _ => { });

    /// <summary>Disposes the multiplexer without waiting for a close (now, or when a pending connect completes).</summary>
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
            connecting.Result.Dispose();
        }
        else
        {
            connecting.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        }
    }

    private Task<ConnectionMultiplexer> StartConnecting()
    {
        _lastConnectStart = Stopwatch.GetTimestamp();
        var connecting = Task.Run(async () =>
        {
            var connection = await ConnectionMultiplexer.ConnectAsync(_configuration.Clone()).ConfigureAwait(false);
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
}
