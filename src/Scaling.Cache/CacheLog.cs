using Microsoft.Extensions.Logging;

namespace Scaling.Cache;

/// <summary>The source-generated log messages of Scaling.Cache. Keys and tags are always quoted.</summary>
internal static partial class CacheLog
{
    [LoggerMessage(1, LogLevel.Warning, "Redis is unavailable for the cache ({Operation} failed: {Reason}); L2 and the backplane are skipped for {BreakSeconds} s at a time, and the cache works from L1 and the factory.")]
    internal static partial void DistributedUnavailable(ILogger logger, string operation, string reason, double breakSeconds);

    [LoggerMessage(2, LogLevel.Information, "Redis is available again for the cache; L2 is in use again.")]
    internal static partial void DistributedRecovered(ILogger logger);

    [LoggerMessage(3, LogLevel.Warning, "The L2 value of cache key {Key} is unreadable and was treated as a miss: {Reason}")]
    internal static partial void CorruptValue(ILogger logger, string key, string reason);

    [LoggerMessage(4, LogLevel.Warning, "The factory of cache key {Key} failed; fail-safe serves the value that expired {StaleSeconds:0.#} s ago.")]
    internal static partial void FailSafeServed(ILogger logger, string key, double staleSeconds, Exception exception);

    [LoggerMessage(5, LogLevel.Information, "The factory of cache key {Key} did not finish within the soft timeout; the stale value is served while it finishes in the background.")]
    internal static partial void SoftTimeout(ILogger logger, string key);

    [LoggerMessage(6, LogLevel.Warning, "The value of cache key {Key} is kept in L1 only: {Reason}")]
    internal static partial void NotDistributed(ILogger logger, string key, string reason);

    [LoggerMessage(7, LogLevel.Warning, "The cache flushed L1 ({Reason}): invalidations from other instances may have been missed.")]
    internal static partial void Flushed(ILogger logger, string reason);

    [LoggerMessage(8, LogLevel.Warning, "Ignored a malformed backplane message on the cache channel.")]
    internal static partial void MalformedMessage(ILogger logger);

    [LoggerMessage(9, LogLevel.Warning, "A background refresh of cache key {Key} failed.")]
    internal static partial void BackgroundRefreshFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(10, LogLevel.Warning, "The cache could not subscribe to its backplane channel; it retries when the connection is restored.")]
    internal static partial void SubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(12, LogLevel.Warning, "The cache key {Key} is invalid ({Reason}: {Problem}); {Operation} bypassed the cache. Set ScalingCacheOptions.ThrowOnInvalidKey to get an ArgumentException instead.")]
    internal static partial void InvalidKey(ILogger logger, string key, string reason, string problem, string operation);

    [LoggerMessage(13, LogLevel.Warning, "The cache tag {Tag} is invalid ({Reason}: {Problem}); {Operation} did nothing, since no entry can carry it. Set ScalingCacheOptions.ThrowOnInvalidKey to get an ArgumentException instead.")]
    internal static partial void InvalidTag(ILogger logger, string tag, string reason, string problem, string operation);

    [LoggerMessage(11, LogLevel.Information, "The cache replayed {Keys} key and {Tags} tag invalidations that failed while Redis was unavailable.")]
    internal static partial void Recovered(ILogger logger, int keys, int tags);

    [LoggerMessage(14, LogLevel.Information, "The cache's backplane subscription delivers again, {Milliseconds:0} ms after a connection was lost; L1 is flushed.")]
    internal static partial void SubscriptionConfirmed(ILogger logger, double milliseconds);

    [LoggerMessage(15, LogLevel.Warning, "The cache's backplane subscription was not restored within {Milliseconds:0} ms of a lost connection; subscribing again.")]
    internal static partial void Resubscribing(ILogger logger, double milliseconds);
}
