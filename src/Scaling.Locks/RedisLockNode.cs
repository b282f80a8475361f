using System.Globalization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Scaling.Locks;

/// <summary>
/// One independent Redis master with its own connection (never one multiplexer over all masters).
/// The connection is made in the background: a master that is down at start-up costs nothing but its
/// failed answers, and every command is bounded by the node timeout (StackExchange.Redis 1.x does not
/// bound asynchronous commands itself).
/// </summary>
internal sealed class RedisLockNode : IAsyncDisposable, IDisposable
{
    // Compare-and-delete and compare-and-extend: only the owner's random value may release or extend.
    internal const string ReleaseScript =
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

    internal const string ExtendScript =
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

    private readonly ILogger _logger;
    private readonly RedisConnector _connector;

    internal RedisLockNode(string endPoint, RedlockOptions options, SocketManager socketManager, ILogger logger)
    {
        EndPoint = endPoint.Trim();
        _logger = logger;
        if (!RedisEndPoint.TryParse(EndPoint, out var host, out var port))
        {
            throw new ArgumentException($"{DisplayText.Quote(endPoint)} is not host:port.", nameof(endPoint));
        }

        var configuration = new ConfigurationOptions
        {
            AbortOnConnectFail = false, // keep retrying in the background; a master down at start-up must not block
            ConnectTimeout = (int)Math.Ceiling(options.ConnectTimeout.TotalMilliseconds),
            SyncTimeout = (int)Math.Ceiling(options.ConnectTimeout.TotalMilliseconds),
            ConnectRetry = 1,
            KeepAlive = 5,
            Password = options.Password,
            ClientName = "scaling-locks",
            SocketManager = socketManager, // one reader thread for the provider's masters (each keeps its own connection)
        };
        configuration.EndPoints.Add(host, port);
        _connector = new RedisConnector(
            configuration,
            static connection =>
            {
                // Complete each reply as soon as it arrives: a lock round waits for several masters at once and
                // gains nothing from ordered completions, only latency.
                connection.PreserveAsyncOrder = false;
                return Task.CompletedTask;
            },
            ex => Log.NodeConnectFailed(_logger, EndPoint, ex.Message));
        _connector.Start();
    }

    /// <summary>The master as configured (<c>host:port</c>).</summary>
    internal string EndPoint { get; }

    /// <summary>
    /// Sends <c>SET key value NX PX ttl</c>; the task's result is true when the key was set (Granted), false
    /// when it exists (Conflicted). If the connection is still being made, the command is sent once it is,
    /// unless <paramref name="expired"/> (the round's time) is up first.
    /// </summary>
    internal Task<bool> SetAsync(RedisKey key, RedisValue value, TimeSpan ttl, CancellationToken expired)
    {
        var connecting = Connection();
        return connecting.IsCompletedSuccessfully
            ? Connected(connecting.Result).StringSetAsync(key, value, ttl, When.NotExists)
            : ConnectThenSetAsync(connecting, key, value, ttl, expired);
    }

    /// <summary>
    /// Sends compare-and-extend (<paramref name="extend"/>: <c>pexpire</c> to <paramref name="ttl"/>) or
    /// compare-and-delete; the result is 1 when the key held <paramref name="value"/> and was extended or
    /// deleted, 0 when it is absent or someone else's.
    /// </summary>
    internal Task<RedisResult> ScriptAsync(bool extend, RedisKey key, RedisValue value, TimeSpan ttl, CancellationToken expired)
    {
        var connecting = Connection();
        return connecting.IsCompletedSuccessfully
            ? Script(Connected(connecting.Result), extend, key, value, ttl)
            : ConnectThenScriptAsync(connecting, extend, key, value, ttl, expired);
    }

    public ValueTask DisposeAsync() => _connector.DisposeAsync(ex => Log.NodeCloseFailed(_logger, EndPoint, ex));

    public void Dispose() => _connector.Dispose();

    private static RedisValue Milliseconds(TimeSpan ttl) => (long)Math.Ceiling(ttl.TotalMilliseconds);

    private static Task<RedisResult> Script(IDatabase database, bool extend, RedisKey key, RedisValue value, TimeSpan ttl) =>
        extend
            ? database.ScriptEvaluateAsync(ExtendScript, [key], [value, Milliseconds(ttl)])
            : database.ScriptEvaluateAsync(ReleaseScript, [key], [value]);

    private IDatabase Connected(ConnectionMultiplexer connection) =>
        connection.IsConnected
            ? connection.GetDatabase()
            : throw new InvalidOperationException($"Not connected to Redis master {EndPoint}.");

    private async Task<bool> ConnectThenSetAsync(Task<ConnectionMultiplexer> connecting, RedisKey key, RedisValue value, TimeSpan ttl, CancellationToken expired)
    {
        var connection = await connecting.WaitAsync(expired);
        expired.ThrowIfCancellationRequested();
        return await Connected(connection).StringSetAsync(key, value, ttl, When.NotExists);
    }

    private async Task<RedisResult> ConnectThenScriptAsync(Task<ConnectionMultiplexer> connecting, bool extend, RedisKey key, RedisValue value, TimeSpan ttl, CancellationToken expired)
    {
        var connection = await connecting.WaitAsync(expired);
        expired.ThrowIfCancellationRequested();
        return await Script(Connected(connection), extend, key, value, ttl);
    }

    private Task<ConnectionMultiplexer> Connection() => _connector.Connection();

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"Redis master {EndPoint}");

}
