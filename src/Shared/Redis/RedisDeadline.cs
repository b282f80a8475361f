using StackExchange.Redis;

// BookingHost links this file too; there it lives in its own namespace, so that no type of the host has the same
// documentation id as a package's internal one (ASP.NET Core's OpenAPI XML comment generator fails on such pairs).
#if BOOKINGHOST
namespace BookingHost.Infrastructure;
#else
namespace Scaling;
#endif

/// <summary>
/// No late writes: every write a caller may be told has failed is a Lua script that first compares Redis's own clock
/// (<c>TIME</c>) with the caller's deadline, passed as the script's last argument (milliseconds since the Unix epoch on
/// Redis's clock, see <see cref="RedisClock.Deadline"/>), and refuses to run past it. A write that waited in a client's
/// backlog, in a socket buffer or in a paused server until its caller had given up therefore never happens. A refused
/// write answers an error starting with <c>LATE</c>. Shared as source by the packages that talk to Redis.
/// </summary>
internal static class RedisDeadline
{
    /// <summary>The error prefix of a write refused because its deadline had passed.</summary>
    internal const string LatePrefix = "LATE";

    /// <summary>The guard: the first statement of every deadline-bound script (the deadline is <c>ARGV[#ARGV]</c>).</summary>
    internal const string Guard =
        "local __t = redis.call('TIME') " +
        "if tonumber(__t[1]) * 1000 + math.floor(tonumber(__t[2]) / 1000) > tonumber(ARGV[#ARGV]) then " +
        "return redis.error_reply('" + LatePrefix + " the caller gave up before this write reached Redis') end\n";

    /// <summary>Whether <paramref name="exception"/> is Redis refusing a write past its deadline.</summary>
    internal static bool IsLate(Exception exception) =>
        exception is RedisServerException server && server.Message.StartsWith(LatePrefix, StringComparison.Ordinal);

    /// <summary>The script's arguments with the deadline appended.</summary>
    internal static RedisValue[] WithDeadline(RedisValue[] values, long deadline)
    {
        var all = new RedisValue[values.Length + 1];
        values.CopyTo(all, 0);
        all[^1] = deadline;
        return all;
    }
}
