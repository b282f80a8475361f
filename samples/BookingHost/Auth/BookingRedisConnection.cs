using StackExchange.Redis;

namespace BookingHost.Auth;

/// <summary>
/// The host's own connection to the shared Redis (<c>ConnectionStrings:Redis</c>) for the revocation list and the
/// idempotency store. Connects in the background and keeps reconnecting; every operation is bounded by
/// <see cref="OperationTimeout"/> so a dead or paused Redis costs a request at most that long.
/// </summary>
public sealed class BookingRedisConnection : IAsyncDisposable
{
    private readonly Lazy<Task<ConnectionMultiplexer>> _connection;

    /// <summary>Creates the connection (lazily connected on first use).</summary>
    /// <param name="configuration">The host configuration (reads <c>ConnectionStrings:Redis</c>).</param>
    public BookingRedisConnection(IConfiguration configuration)
    {
        var endpoint = configuration.GetConnectionString("Redis")
            ?? throw new InvalidOperationException("ConnectionStrings:Redis is required (the revocation list and the idempotency store are shared by every instance through it).");
        _connection = new Lazy<Task<ConnectionMultiplexer>>(() =>
        {
            var options = ConfigurationOptions.Parse(endpoint);
            options.AbortOnConnectFail = false;
            options.ConnectTimeout = 2000;
            options.SyncTimeout = 2000;
            return ConnectAsync(options);
        });
    }

    private static async Task<ConnectionMultiplexer> ConnectAsync(ConfigurationOptions options)
    {
        var connection = await ConnectionMultiplexer.ConnectAsync(options);

        // StackExchange.Redis 1.x completes replies in order on one thread by default, running each awaiting request's
        // continuation inline there: under load every request would queue behind the others. These reads and writes
        // are independent, so each completes as its reply arrives.
        connection.PreserveAsyncOrder = false;
        return connection;
    }

    /// <summary>Gets the longest time one Redis operation may take before it counts as a failure.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Runs one operation against the database, bounded by <see cref="OperationTimeout"/>.</summary>
    /// <typeparam name="T">The result type.</typeparam>
    /// <param name="operation">The operation.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The operation's result.</returns>
    /// <exception cref="RedisException">Redis could not be reached or answered with an error.</exception>
    /// <exception cref="TimeoutException">Redis did not answer in time.</exception>
    public async Task<T> RunAsync<T>(Func<IDatabase, Task<T>> operation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var connect = _connection.Value;
        var connection = await connect.WaitAsync(OperationTimeout, cancellationToken);

        // A disconnected multiplexer fails the operation at once with a RedisConnectionException.
        return await operation(connection.GetDatabase()).WaitAsync(OperationTimeout, cancellationToken);
    }

    /// <summary>Whether an exception means "Redis is unavailable" (as opposed to a bug).</summary>
    /// <param name="exception">The exception.</param>
    public static bool IsUnavailable(Exception exception) => exception is RedisException or TimeoutException;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_connection.IsValueCreated)
        {
            try
            {
                var connection = await _connection.Value;
                await connection.CloseAsync(allowCommandsToComplete: false);
                connection.Dispose();
            }
            catch (Exception e) when (IsUnavailable(e))
            {
                // nothing to close
            }
        }
    }
}
