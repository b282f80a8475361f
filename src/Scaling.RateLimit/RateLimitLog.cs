using Microsoft.Extensions.Logging;

namespace Scaling.RateLimit;

/// <summary>The package's log messages (source-generated). Untrusted values are only ever logged quoted (<see cref="DisplayText"/>); API keys never.</summary>
internal static partial class RateLimitLog
{
    [LoggerMessage(1, LogLevel.Warning, "Rate limiting is degraded: Redis failed {Failures} time(s) in a row ({Reason}); policies apply their failure modes and Redis is probed again every {BreakSeconds:0.###} s")]
    internal static partial void Degraded(ILogger logger, int failures, string reason, double breakSeconds);

    [LoggerMessage(2, LogLevel.Information, "Rate limiting is back on Redis after {DegradedSeconds:0.0} s degraded")]
    internal static partial void Resumed(ILogger logger, double degradedSeconds);

    [LoggerMessage(3, LogLevel.Debug, "Rate-limit check on Redis failed: {Reason}")]
    internal static partial void CheckFailed(ILogger logger, string reason);

    [LoggerMessage(4, LogLevel.Debug, "The rate-limit script was not in Redis's script cache (NOSCRIPT); sent it again")]
    internal static partial void ScriptReloaded(ILogger logger);

    [LoggerMessage(5, LogLevel.Error, "The changed rate-limit options are invalid and were ignored; the previous options stay in force: {Failures}")]
    internal static partial void OptionsRejected(ILogger logger, string failures);

    [LoggerMessage(6, LogLevel.Debug, "Request from trusted proxy {Proxy}: forwarded header entry {Entry} is not an IP address; counting the request by the proxy's address")]
    internal static partial void BadForwardedEntry(ILogger logger, string proxy, string entry);
}
