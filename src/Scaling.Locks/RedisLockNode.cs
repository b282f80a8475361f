using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Scaling.Locks;

/// <summary>
/// One independent Redis master: its own multiplexer, made in the background from <c>host:port</c> (a master that is
/// down at start-up costs nothing but its failed answers), or the application's own multiplexer for that master. Every
/// command is bounded by the round that sends it (see <see cref="MastersRound"/>), and the writes carry the round's
/// deadline (see <see cref="RedisDeadline"/>): a <c>SET</c> or an extension that reaches the master after its round
/// gave up is refused there, so it can never take or prolong a lock nobody holds.
/// </summary>
internal sealed class RedisLockNode : IAsyncDisposable, IDisposable
{
    // SET NX PX, refused past the round's deadline: 1 when the key was set (Granted), 0 when it exists (Conflicted).
    internal const string AcquireScript = RedisDeadline.Guard +
        "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 else return 0 end";

    // Compare-and-extend, refused past the round's deadline: only the owner's random value may extend.
    internal const string ExtendScript = RedisDeadline.Guard +
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

    // Compare-and-delete: only the owner's random value may release (never refused: a late release is harmless).
    internal const string ReleaseScript =
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

    private readonly ILogger _logger;
    private readonly RedisConnection _connection;
    private readonly TimeSpan _timeout;
    private string _endPoint;

    /// <summary>A master given as <c>host:port</c>: the node makes and owns its multiplexer.</summary>
    internal RedisLockNode(string endPoint, ScalingLocksOptions options, ILogger logger)
    {
        _endPoint = endPoint.Trim();
        _logger = logger;
        _timeout = options.NodeTimeout;
        if (!RedisEndPoint.TryParse(_endPoint, out var host, out var port))
        {
            throw new ArgumentException($"{DisplayText.Quote(endPoint)} is not host:port.", nameof(endPoint));
        }

        var configuration = new ConfigurationOptions
        {
            ConnectTimeout = (int)Math.Ceiling(options.ConnectTimeout.TotalMilliseconds),
            SyncTimeout = (int)Math.Ceiling(options.ConnectTimeout.TotalMilliseconds),
            ConnectRetry = 1,
            KeepAlive = 5,
            Password = options.Password,
        };
        configuration.EndPoints.Add(host, port);
        _connection = new RedisConnection(
            configuration,
            factory: null,
            clientName: "scaling-locks",
            onConnected: static _ => Task.CompletedTask,
            onConnectFailed: ex => LocksLog.NodeConnectFailed(_logger, EndPoint, ex.Message));
        _connection.Start();
    }

    /// <summary>A master given as the application's own multiplexer (never closed here).</summary>
    internal RedisLockNode(Func<Task<IConnectionMultiplexer>> factory, int index, ScalingLocksOptions options, ILogger logger)
    {
        _endPoint = string.Create(CultureInfo.InvariantCulture, $"master {index + 1}");
        _logger = logger;
        _timeout = options.NodeTimeout;
        _connection = new RedisConnection(
            configuration: null,
            factory,
            clientName: "scaling-locks",
            onConnected: connection =>
            {
                if (connection.GetEndPoints() is [var only])
                {
                    Volatile.Write(ref _endPoint, Format(only));
                }

                return Task.CompletedTask;
            },
            onConnectFailed: ex => LocksLog.NodeConnectFailed(_logger, EndPoint, ex.Message));
        _connection.Start();
    }

    /// <summary>The master (<c>host:port</c>; for an application multiplexer, its endpoint once known).</summary>
    internal string EndPoint => Volatile.Read(ref _endPoint);

    /// <summary>
    /// Sends <c>SET key value NX PX ttl</c> (refused past the round's deadline); the result is 1 when the key was set
    /// (Granted), 0 when it exists (Conflicted). If the connection is still being made, the command is sent once it
    /// is, unless <paramref name="expired"/> (the round's time) is up first.
    /// </summary>
    internal Task<RedisResult> SetAsync(RedisKey key, RedisValue value, TimeSpan ttl, CancellationToken expired) =>
        RunAsync(AcquireScript, key, [value, Milliseconds(ttl)], deadline: true, expired);

    /// <summary>
    /// Sends compare-and-extend (<paramref name="extend"/>: <c>pexpire</c> to <paramref name="ttl"/>, refused past the
    /// round's deadline) or compare-and-delete; the result is 1 when the key held <paramref name="value"/> and was
    /// extended or deleted, 0 when it is absent or someone else's.
    /// </summary>
    internal Task<RedisResult> ScriptAsync(bool extend, RedisKey key, RedisValue value, TimeSpan ttl, CancellationToken expired) =>
        extend
            ? RunAsync(ExtendScript, key, [value, Milliseconds(ttl)], deadline: true, expired)
            : RunAsync(ReleaseScript, key, [value], deadline: false, expired);

    public ValueTask DisposeAsync() => _connection.DisposeAsync(ex => LocksLog.NodeCloseFailed(_logger, EndPoint, ex));

    public void Dispose() => _connection.Dispose();

    public override string ToString() => "Redis master " + EndPoint;

    private static RedisValue Milliseconds(TimeSpan ttl) => (long)Math.Ceiling(ttl.TotalMilliseconds);

    private static string Format(EndPoint endPoint) => endPoint switch
    {
        DnsEndPoint dns => string.Create(CultureInfo.InvariantCulture, $"{dns.Host}:{dns.Port}"),
        IPEndPoint ip => ip.ToString(),
        _ => endPoint.ToString() ?? "?",
    };

    private Task<RedisResult> RunAsync(string script, RedisKey key, RedisValue[] values, bool deadline, CancellationToken expired)
    {
        // The deadline is the round's: taken now, when the round sends, even if the connection is still being made.
        if (deadline)
        {
            values = RedisDeadline.WithDeadline(values, _connection.Clock.Deadline(_timeout));
        }

        var database = _connection.DatabaseAsync(_timeout, expired);
        return database.IsCompletedSuccessfully
            ? database.Result.ScriptEvaluateAsync(script, [key], values)
            : ConnectThenRunAsync(database, script, key, values, expired);
    }

    private static async Task<RedisResult> ConnectThenRunAsync(ValueTask<IDatabase> connecting, string script, RedisKey key, RedisValue[] values, CancellationToken expired)
    {
        var database = await connecting.ConfigureAwait(false);
        expired.ThrowIfCancellationRequested();
        return await database.ScriptEvaluateAsync(script, [key], values).ConfigureAwait(false);
    }
}
