using System.Security.Cryptography;
using System.Text;

namespace Scaling.RateLimit;

/// <summary>
/// The one Lua script that checks every policy of a request and, only if all of them allow it, counts it in
/// all of them. Time is Redis's own (<c>TIME</c>), never the application's.
/// </summary>
/// <remarks>
/// <para>KEYS: one per policy (all with the same hash tag). ARGV[1]: permits; ARGV[2]: a unique id of the call
/// (sliding-log members); then per policy: limit, window in milliseconds, algorithm (0 counter, 1 log); then the permits to
/// reserve beyond <c>permits</c> when the check is admitted (see <see cref="PermitReservations"/>): granted only when every
/// policy is a counter, at most a quarter of what each policy has left after the check itself, and counted with it; last,
/// the caller's deadline on Redis's clock (milliseconds since the Unix epoch): a check that reaches Redis after it counts
/// nothing and answers an error starting with <c>LATE</c> (its caller has already applied the failure mode).</para>
/// <para>Returns <c>{allowed, retryAfterMicros, nowMicros, rejectingPolicy (1-based, 0 when allowed), remaining1, resetMicros1, ...,
/// reserved}</c>; each remaining is after the reserved permits.</para>
/// <para>Counter: one small hash of plain integers per key (no serialization in Lua). Time is cut into <c>B</c> + 1 = 17
/// sub-windows per window (sub-window k is <c>[k·s, (k+1)·s)</c>, <c>s</c> = window / 16, exact in microseconds since
/// windows are whole seconds); the hash keeps the count of each of the last 17 (field <c>k mod 17</c>), <c>h</c> the newest
/// sub-window counted in, <c>n</c> the sum of those 17 counts and <c>o</c> the oldest of them with a count. The estimate is
/// <c>n</c>: every request of every sub-window that the sliding window <c>(now − window, now]</c> touches, so it is never
/// below the true count in the sliding window: the counter never admits more than the limit in any sliding window (on
/// Redis's clock); it may admit less, by at most the count of the one sub-window the window's start is passing through.
/// A check in the same sub-window as the last one reads 4 fields and writes 2 (<c>HMGET</c>, <c>HSET</c>); only the first
/// check of a new sub-window reads all of them, drops those that left and sets the time to live (window + s). A key of
/// the previous format (a MessagePack string) is carried over conservatively: its counts are all put into the current
/// sub-window. With <c>permits</c> 0 nothing is written.</para>
/// <para>Log: a sorted set of admitted requests scored by Redis time in microseconds; entries at or before <c>now − window</c> are
/// dropped, so the window is (now − window, now].</para>
/// </remarks>
internal static class SlidingWindowScript
{
    internal const string Source = """
        local B = 16
        local R = B + 1
        local FIELDS = {}
        for x = 1, R do FIELDS[x] = x - 1 end
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
            -- A hash of plain integers: h, the newest sub-window counted in; n, the sum of the counts of sub-windows
            -- h - B .. h; o, the oldest of them with a count; the count of sub-window k in field k % R. Sub-window k is
            -- [k * s, (k + 1) * s); the estimate counts every request of the B + 1 sub-windows that (now - window, now] touches.
            local s = window / B
            local j = math.floor(now / s)
            local slot = j % R
            local r = redis.pcall('HMGET', key, 'h', 'n', 'o', slot)
            local h, est, o, cj, c, old
            if r.err then
              -- A counter of the previous format (MessagePack): its current and previous windows' counts, kept in sub-window j.
              old = cmsgpack.unpack(redis.call('GET', key))
              est = 0
              if old[1] >= math.floor(now / window) - 1 then
                for x = 2, 17 do est = est + old[x] + old[x + 32] end
              end
              c = {}
              for x = 1, R do c[x] = 0 end
              c[slot + 1] = est
              if est > 0 then o = j end
            else
              h = tonumber(r[1])
              if h == j then
                est, o, cj = tonumber(r[2]), tonumber(r[3]), tonumber(r[4]) or 0
              else
                if h and h > j then j = h slot = j % R end
                c = redis.call('HMGET', key, unpack(FIELDS))
                for x = 1, R do c[x] = tonumber(c[x]) or 0 end
                if not h or j - h > B then
                  for x = 1, R do c[x] = 0 end
                else
                  for k = h + 1, j do c[k % R + 1] = 0 end
                end
                est = 0
                for k = j - B, j do
                  local v = c[k % R + 1]
                  if v > 0 then
                    est = est + v
                    if not o then o = k end
                  end
                end
              end
            end
            if est + permits <= limit then
              remaining = limit - est - permits
              wait = 0
              if est == 0 then o = j end
              reset = (permits > 0 or est > 0) and math.min((o + R) * s - now, window) or window
            else
              remaining = math.max(limit - est, 0)
              if not c then
                c = redis.call('HMGET', key, unpack(FIELDS))
                for x = 1, R do c[x] = tonumber(c[x]) or 0 end
              end
              local after = est
              wait = (j + R) * s - now
              for k = j - B, j do
                after = after - c[k % R + 1]
                if after + permits <= limit then wait = (k + R) * s - now break end
              end
              wait = math.max(math.ceil(wait), 1)
              reset = wait
            end
            pending[i] = {key, 0, window + s, j, slot, est, o, cj, c, old}
          end
          if wait > 0 then
            if allowed == 1 then result[4] = i end
            allowed = 0
            if wait > retry then retry = wait end
          end
          result[3 + i * 2] = remaining
          result[4 + i * 2] = math.ceil(reset)
        end
        local extra = 0
        if allowed == 1 and permits > 0 then
          extra = tonumber(ARGV[#ARGV - 1])
          for i = 1, n do
            if pending[i][2] == 1 then extra = 0 end
            local cap = math.floor(result[3 + i * 2] / 4)
            if cap < extra then extra = cap end
          end
          if extra > 0 then
            permits = permits + extra
            for i = 1, n do result[3 + i * 2] = result[3 + i * 2] - extra end
          end
          for i = 1, n do
            local p = pending[i]
            if p[2] == 1 then
              for j = 1, permits do
                redis.call('ZADD', p[1], now, id .. ':' .. j)
              end
              redis.call('PEXPIRE', p[1], math.ceil(p[3] / 1000))
            else
              local key, j, slot, total, o, cj, c = p[1], p[4], p[5], p[6] + permits, p[7], p[8], p[9]
              if cj then
                redis.call('HSET', key, 'n', total, slot, cj + permits)
              else
                if p[10] then redis.call('DEL', key) end
                c[slot + 1] = c[slot + 1] + permits
                local args = {'h', j, 'n', total, 'o', o}
                for x = 1, R do
                  args[5 + 2 * x] = x - 1
                  args[6 + 2 * x] = c[x]
                end
                redis.call('HSET', key, unpack(args))
                redis.call('PEXPIRE', key, math.ceil(p[3] / 1000))
              end
            end
          end
        end
        result[1] = allowed
        result[2] = math.ceil(retry)
        result[5 + n * 2] = extra
        return result
        """;

    /// <summary>The SHA-1 of <see cref="Source"/>, for <c>EVALSHA</c>.</summary>
#pragma warning disable CA5350 // EVALSHA names scripts by SHA-1; this is an identifier, not a security use.
    internal static readonly byte[] Sha1 = SHA1.HashData(Encoding.UTF8.GetBytes(Source));
#pragma warning restore CA5350
}
