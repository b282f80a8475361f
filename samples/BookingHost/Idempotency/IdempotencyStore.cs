using BookingHost.Infrastructure;
using StackExchange.Redis;

namespace BookingHost.Idempotency;

/// <summary>
/// The idempotency records in Redis, shared by every instance. A key holds either a pending marker
/// (<c>pending:{owner}:{fingerprint}</c>, short-lived) or a completed response (<c>done:{json}</c>, kept for the
/// retention period). Begin is one atomic script: read the record, or claim the key when there is none. Claims and
/// completions carry the caller's deadline: Redis refuses one that arrives after the request was answered with a failure.
/// </summary>
public sealed class IdempotencyStore(BookingRedisConnection redis)
{
    private const string BeginScript = BookingRedisConnection.DeadlineGuard + """
        local v = redis.call('GET', KEYS[1])
        if v then return {1, v} end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return {0}
        """;

    private const string CompleteScript = BookingRedisConnection.DeadlineGuard + """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
          return 1
        end
        return 0
        """;

    private const string AbandonScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    /// <summary>Claims a key with a pending marker, or returns what it holds.</summary>
    /// <param name="key">The Redis key.</param>
    /// <param name="pending">The pending marker.</param>
    /// <param name="timeout">How long the marker lives.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns><see langword="null"/> when claimed; otherwise the value the key holds.</returns>
    /// <exception cref="RedisException">Redis is unavailable.</exception>
    /// <exception cref="TimeoutException">Redis did not answer in time.</exception>
    public async Task<string?> BeginAsync(string key, string pending, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var result = (RedisResult[])(await redis.WriteAsync(BeginScript, [key], [pending, (long)timeout.TotalMilliseconds], cancellationToken))!;
        return (long)result[0] == 1 ? (string?)result[1] : null;
    }

    /// <summary>Replaces the pending marker with the completed response, if the marker is still this request's.</summary>
    /// <param name="key">The Redis key.</param>
    /// <param name="pending">This request's pending marker.</param>
    /// <param name="completed">The completed record (UTF-8).</param>
    /// <param name="retention">How long to keep it.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>Whether it was stored (false: the marker had expired and another request claimed the key).</returns>
    public async Task<bool> CompleteAsync(string key, string pending, ReadOnlyMemory<byte> completed, TimeSpan retention, CancellationToken cancellationToken)
    {
        var result = await redis.WriteAsync(CompleteScript, [key], [pending, completed, (long)retention.TotalMilliseconds], cancellationToken);
        return (long)result == 1;
    }

    /// <summary>Deletes the pending marker, if it is still this request's (so a retry may run the request again).</summary>
    /// <param name="key">The Redis key.</param>
    /// <param name="pending">This request's pending marker.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A task that completes when the marker is gone.</returns>
    public Task AbandonAsync(string key, string pending, CancellationToken cancellationToken)
        => redis.RunAsync(db => db.ScriptEvaluateAsync(AbandonScript, [key], [pending]), cancellationToken);
}
