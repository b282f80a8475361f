using StackExchange.Redis;

namespace BookingHost.Infrastructure;

/// <summary>
/// The revocation list's and the idempotency store's way to the shared Redis (<c>ConnectionStrings:Redis</c>, the
/// instance's one multiplexer for it, see <see cref="RedisConnections"/>). Every operation is bounded by
/// <see cref="OperationTimeout"/>, so a dead or paused Redis costs a request at most that long, and every write carries
/// that deadline: Redis refuses a write that reaches it later (see <see cref="WriteAsync"/>), so nothing is revoked or
/// claimed after its caller was answered with a failure.
/// </summary>
public sealed class BookingRedisConnection(RedisConnections connections)
{
    private readonly RedisConnection _connection = connections.Connection(connections.Primary);

    /// <summary>Gets the longest time one Redis operation may take before it counts as a failure.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Runs one read against the database, bounded by <see cref="OperationTimeout"/>.</summary>
    /// <typeparam name="T">The result type.</typeparam>
    /// <param name="operation">The operation.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The operation's result.</returns>
    /// <exception cref="RedisException">Redis could not be reached or answered with an error.</exception>
    /// <exception cref="TimeoutException">Redis did not answer in time.</exception>
    public async Task<T> RunAsync<T>(Func<IDatabase, Task<T>> operation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var database = await _connection.DatabaseAsync(OperationTimeout, cancellationToken);
        return await operation(database).WaitAsync(OperationTimeout, cancellationToken);
    }

    /// <summary>
    /// Runs one write script, bounded by <see cref="OperationTimeout"/>. The script must begin with
    /// <see cref="DeadlineGuard"/>; the deadline is appended to <paramref name="values"/> as the last argument, so
    /// Redis refuses the write if it arrives after this call has given up.
    /// </summary>
    /// <param name="script">The Lua script (starting with <see cref="DeadlineGuard"/>).</param>
    /// <param name="keys">The keys.</param>
    /// <param name="values">The arguments.</param>
    /// <param name="cancellationToken">Cancels the wait (the write may still happen before its deadline).</param>
    /// <returns>The script's result.</returns>
    /// <exception cref="RedisException">Redis could not be reached, answered with an error, or refused the late write.</exception>
    /// <exception cref="TimeoutException">Redis did not answer in time.</exception>
    public Task<RedisResult> WriteAsync(string script, RedisKey[] keys, RedisValue[] values, CancellationToken cancellationToken)
    {
        var deadline = _connection.Clock.Deadline(OperationTimeout);
        return RunAsync(db => db.ScriptEvaluateAsync(script, keys, RedisDeadline.WithDeadline(values, deadline)), cancellationToken);
    }

    /// <summary>The first statement of every script given to <see cref="WriteAsync"/>: it refuses a write past its deadline.</summary>
    public const string DeadlineGuard = RedisDeadline.Guard;

    /// <summary>Whether an exception means "Redis is unavailable" (as opposed to a bug).</summary>
    /// <param name="exception">The exception.</param>
    public static bool IsUnavailable(Exception exception) => exception is RedisException or TimeoutException;
}
