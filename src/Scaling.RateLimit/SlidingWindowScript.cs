using System.Security.Cryptography;
using System.Text;

namespace Scaling.RateLimit;

/// <summary>
/// The one Lua script that checks every policy of a request and, only if all of them allow it, counts it in
/// all of them. Time is Redis's own (<c>TIME</c>), never the application's.
/// </summary>
/// <remarks>
/// <para>KEYS: one per policy (all with the same hash tag). ARGV[1]: permits; ARGV[2]: a unique id of the call
/// (sliding-log members); then per policy: limit, window in milliseconds, algorithm (0 counter, 1 log).</para>
/// <para>Returns <c>{allowed, retryAfterMicros, nowMicros, rejectingPolicy (1-based, 0 when allowed), remaining1, resetMicros1, ...}</c>.</para>
/// <para>Counter: a hash per key with the current fixed window's index <c>w</c>, its count <c>c</c> and the
/// previous window's count <c>p</c>; the estimate is <c>p × (unelapsed share of the window) + c</c>. Log: a sorted
/// set of admitted requests scored by Redis time in microseconds; entries at or before <c>now − window</c> are
/// dropped, so the window is (now − window, now].</para>
/// </remarks>
internal static class SlidingWindowScript
{
    internal const string Source = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local permits = tonumber(ARGV[1])
        local id = ARGV[2]
        local n = #KEYS
        local allowed = 1
        local retry = 0
        local result = {0, 0, now, 0}
        local pending = {}
        for i = 1, n do
          local key = KEYS[i]
          local a = 3 + (i - 1) * 3
          local limit = tonumber(ARGV[a])
          local window = tonumber(ARGV[a + 1]) * 1000
          local remaining, reset, wait
          if ARGV[a + 2] == '1' then
            redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
            local count = redis.call('ZCARD', key)
            if count + permits <= limit then
              remaining = limit - count - permits
              wait = 0
              local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
              if oldest[2] then reset = tonumber(oldest[2]) + window - now else reset = window end
            else
              remaining = math.max(limit - count, 0)
              local k = count + permits - limit - 1
              local entry = redis.call('ZRANGE', key, k, k, 'WITHSCORES')
              wait = tonumber(entry[2]) + window - now
              reset = wait
            end
            pending[i] = {key, 1, window}
          else
            local h = redis.call('HMGET', key, 'w', 'c', 'p')
            local idx = math.floor(now / window)
            local w = tonumber(h[1])
            local cur = tonumber(h[2]) or 0
            local prev = tonumber(h[3]) or 0
            if w == nil then
              cur = 0
              prev = 0
            elseif w > idx then
              idx = w
            elseif w == idx - 1 then
              prev = cur
              cur = 0
            elseif w < idx - 1 then
              prev = 0
              cur = 0
            end
            local elapsed = math.min(math.max(now - idx * window, 0), window)
            local est = prev * (window - elapsed) / window + cur
            if est + permits <= limit then
              remaining = math.floor(limit - est - permits)
              wait = 0
              reset = window - elapsed
            else
              remaining = math.max(math.floor(limit - est), 0)
              if cur + permits <= limit then
                wait = math.ceil(window - (limit - cur - permits) * window / prev) - elapsed
              else
                wait = window - elapsed + math.max(math.ceil(window - (limit - permits) * window / cur), 0)
              end
              if wait < 1 then wait = 1 end
              reset = wait
            end
            pending[i] = {key, 0, window, idx, cur, prev}
          end
          if wait > 0 then
            if allowed == 1 then result[4] = i end
            allowed = 0
            if wait > retry then retry = wait end
          end
          result[3 + i * 2] = remaining
          result[4 + i * 2] = math.ceil(reset)
        end
        if allowed == 1 then
          for i = 1, n do
            local p = pending[i]
            if p[2] == 1 then
              for j = 1, permits do
                redis.call('ZADD', p[1], now, id .. ':' .. j)
              end
              redis.call('PEXPIRE', p[1], math.ceil(p[3] / 1000))
            else
              redis.call('HSET', p[1], 'w', p[4], 'c', p[5] + permits, 'p', p[6])
              redis.call('PEXPIRE', p[1], math.ceil(p[3] / 500))
            end
          end
        end
        result[1] = allowed
        result[2] = math.ceil(retry)
        return result
        """;

    /// <summary>The SHA-1 of <see cref="Source"/>, for <c>EVALSHA</c>.</summary>
#pragma warning disable CA5350 // EVALSHA names scripts by SHA-1; this is an identifier, not a security use.
    internal static readonly byte[] Sha1 = SHA1.HashData(Encoding.UTF8.GetBytes(Source));
#pragma warning restore CA5350
}
