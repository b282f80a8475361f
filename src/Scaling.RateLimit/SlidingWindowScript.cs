using System.Security.Cryptography;
using System.Text;

namespace Scaling.RateLimit;

/// <summary>
/// The one Lua script that checks every policy of a request and, only if all of them allow it, counts it in
/// all of them. Time is Redis's own (<c>TIME</c>), never the application's.
/// </summary>
/// <remarks>
/// <para>KEYS: one per policy (all with the same hash tag). ARGV[1]: permits; ARGV[2]: a unique id of the call
/// (sliding-log members); then per policy: limit, window in milliseconds, algorithm (0 counter, 1 log); last, the
/// caller's deadline on Redis's clock (milliseconds since the Unix epoch): a check that reaches Redis after it counts
/// nothing and answers an error starting with <c>LATE</c> (its caller has already applied the failure mode).</para>
/// <para>Returns <c>{allowed, retryAfterMicros, nowMicros, rejectingPolicy (1-based, 0 when allowed), remaining1, resetMicros1, ...}</c>.</para>
/// <para>Counter: one small string per key (MessagePack): the current fixed window's index and, for the current and the
/// previous window, each of their <c>B</c> = 16 sub-windows' count and the offset (whole milliseconds, rounded up) just
/// after its last counted request: 65 numbers, whatever the limit. The estimate is the current window's count plus
/// the previous window's sub-window counts weighted 1 while their last request is still inside the sliding window and
/// 0 once it has left. That weight is never too low, so the estimate is never below the true count in the sliding
/// window: the counter never admits more than the limit in any sliding window (on Redis's clock); it may admit less,
/// by at most the one sub-window that the window's start is passing through. The key's time to live (two windows) is set when a window starts; later writes in
/// the same window keep it (<c>KEEPTTL</c>), which is cheaper. With <c>permits</c> 0 nothing is written.
/// /// Log: a sorted
/// set of admitted requests scored by Redis time in microseconds; entries at or before <c>now − window</c> are
/// dropped, so the window is (now − window, now].</para>
/// </remarks>
internal static class SlidingWindowScript
{
    internal const string Source = """
        local B = 16
        local function until_within(x, counts, lasts)
          local after = 0
          for b = 1, B do after = after + counts[b] end
          if after <= x then return 0 end
          for b = 1, B do
            after = after - counts[b]
            if after <= x then return lasts[b] * 1000 end
          end
          return 0
        end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        if math.floor(now / 1000) > tonumber(ARGV[#ARGV]) then
          return redis.error_reply('LATE the caller gave up before this check reached Redis')
        end
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
            local packed = redis.call('GET', key)
            local st = packed and cmsgpack.unpack(packed)
            local idx = math.floor(now / window)
            local w = st and st[1]
            if w and w > idx then idx = w end
            local elapsed = math.min(math.max(now - idx * window, 0), window - 1)
            -- Where the current and previous windows' counts and last offsets are in st (nil: all zero).
            local c, p
            if w == idx then
              c, p = 1, 1 + 2 * B
            elseif w == idx - 1 then
              p = 1
            end
            local count = 0
            local est = 0
            for b = 1, B do
              if c then count = count + st[c + b] end
              if p and elapsed < st[p + B + b] * 1000 then est = est + st[p + b] end
            end
            est = est + count
            if est + permits <= limit then
              remaining = limit - est - permits
              wait = 0
              reset = window - elapsed
            else
              remaining = math.max(limit - est, 0)
              local counts, lasts = {}, {}
              if count + permits <= limit then
                for b = 1, B do
                  counts[b] = p and st[p + b] or 0
                  lasts[b] = p and st[p + B + b] or 0
                end
                wait = until_within(limit - count - permits, counts, lasts) - elapsed
              else
                for b = 1, B do
                  counts[b] = st[c + b]
                  lasts[b] = st[c + B + b]
                end
                wait = window - elapsed + until_within(limit - permits, counts, lasts)
              end
              wait = math.max(math.ceil(wait), 1)
              reset = wait
            end
            pending[i] = {key, 0, window, idx, elapsed, st, c, p}
          end
          if wait > 0 then
            if allowed == 1 then result[4] = i end
            allowed = 0
            if wait > retry then retry = wait end
          end
          result[3 + i * 2] = remaining
          result[4 + i * 2] = math.ceil(reset)
        end
        if allowed == 1 and permits > 0 then
          for i = 1, n do
            local p = pending[i]
            if p[2] == 1 then
              for j = 1, permits do
                redis.call('ZADD', p[1], now, id .. ':' .. j)
              end
              redis.call('PEXPIRE', p[1], math.ceil(p[3] / 1000))
            else
              local elapsed, st, c, prev = p[5], p[6], p[7], p[8]
              local out
              if c then
                out = st
              else
                out = {p[4]}
                for k = 2, 1 + 4 * B do out[k] = 0 end
                if prev then
                  for k = 2, 1 + 2 * B do out[k + 2 * B] = st[k] end
                end
              end
              local b = math.min(math.floor(elapsed * B / p[3]), B - 1) + 1
              out[1 + b] = out[1 + b] + permits
              out[1 + B + b] = math.floor(elapsed / 1000) + 1
              if c then
                redis.call('SET', p[1], cmsgpack.pack(out), 'KEEPTTL')
              else
                redis.call('SET', p[1], cmsgpack.pack(out), 'PX', math.ceil(p[3] / 500))
              end
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
