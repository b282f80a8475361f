using StackExchange.Redis;

namespace BookingHost.Infrastructure;

/// <summary>
/// The instance's Redis multiplexers: exactly one per Redis endpoint, shared by everything that talks to that Redis —
/// the cache, the rate limits, the shard-map push, the idempotency store, the revocation list, the event fan-out and the
/// health checks on <c>ConnectionStrings:Redis</c>, and the lock provider on each of <c>ConnectionStrings:RedisLockMasters</c>
/// (the first of which is usually the same Redis). Each connects in the background (a Redis that is down at start-up
/// blocks nothing), fails commands at once while disconnected (<see cref="BacklogPolicy.FailFast"/>) and is closed when
/// the host stops. The packages are handed these multiplexers and never close them.
/// </summary>
public sealed class RedisConnections : IAsyncDisposable
{
    private readonly Dictionary<string, RedisConnection> _connections = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Creates the connections (made in the background on first use).</summary>
    /// <param name="configuration">
    /// The host configuration (<c>ConnectionStrings:Redis</c>, <c>ConnectionStrings:RedisLockMasters</c>, and
    /// <c>BookingHost:RedisClientName</c>, the name the connections show in <c>CLIENT LIST</c>, <c>bookinghost</c> by default).
    /// </param>
    /// <param name="logger">Logs connections that cannot be made.</param>
    public RedisConnections(IConfiguration configuration, ILogger<RedisConnections> logger)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        Primary = configuration.GetConnectionString("Redis")
            ?? throw new InvalidOperationException("ConnectionStrings:Redis is required (the cache, rate limits, idempotency store, revocation list and events are shared by every instance through it).");
        var masters = configuration.GetConnectionString("RedisLockMasters");
        LockMasters = string.IsNullOrWhiteSpace(masters)
            ? [Primary]
            : masters.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var clientName = configuration["BookingHost:RedisClientName"] ?? "bookinghost";
        foreach (var endpoint in LockMasters.Prepend(Primary))
        {
            if (!_connections.ContainsKey(endpoint))
            {
                var options = ConfigurationOptions.Parse(endpoint);
                options.ConnectTimeout = 2000;
                options.SyncTimeout = 2000;
                _connections[endpoint] = new RedisConnection(
                    options,
                    factory: null,
                    clientName,
                    onConnected: static _ => Task.CompletedTask,
                    onConnectFailed: e => RedisConnectionsLog.ConnectFailed(logger, endpoint, e.Message));
            }
        }
    }

    /// <summary>Gets the shared Redis (<c>ConnectionStrings:Redis</c>).</summary>
    public string Primary { get; }

    /// <summary>Gets the independent Redis masters of the lock provider (<c>ConnectionStrings:RedisLockMasters</c>, or the shared Redis).</summary>
    public IReadOnlyList<string> LockMasters { get; }

    /// <summary>Gets every distinct endpoint.</summary>
    public IEnumerable<string> Endpoints => _connections.Keys;

    /// <summary>The multiplexer of <paramref name="endpoint"/> (one of <see cref="Endpoints"/>).</summary>
    /// <param name="endpoint">The endpoint as configured.</param>
    /// <returns>The multiplexer, once made (it may not be connected yet).</returns>
    public Task<IConnectionMultiplexer> GetAsync(string endpoint) => Connection(endpoint).Multiplexer();

    /// <summary>The connection of <paramref name="endpoint"/>, with its clock for deadlines.</summary>
    internal RedisConnection Connection(string endpoint) =>
        _connections.TryGetValue(endpoint, out var connection)
            ? connection
            : throw new ArgumentException($"No Redis connection is configured for {endpoint}.", nameof(endpoint));

    /// <summary>Closes every multiplexer.</summary>
    /// <returns>A task that completes when they are closed.</returns>
    public async ValueTask DisposeAsync()
    {
        foreach (var connection in _connections.Values)
        {
            await connection.DisposeAsync();
        }
    }
}

/// <summary>Log messages of <see cref="RedisConnections"/>.</summary>
internal static partial class RedisConnectionsLog
{
    [LoggerMessage(1801, LogLevel.Warning, "Cannot connect to Redis at {Endpoint} yet ({Reason}); retrying in the background")]
    public static partial void ConnectFailed(ILogger logger, string endpoint, string reason);
}
