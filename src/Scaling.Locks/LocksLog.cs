using Microsoft.Extensions.Logging;

namespace Scaling.Locks;

/// <summary>The package's log messages (source-generated). Resource names are logged; lock values never are.</summary>
internal static partial class LocksLog
{
    [LoggerMessage(1, LogLevel.Debug, "Lock {Resource} acquired after {Attempts} attempt(s) in {ElapsedMs:0.0} ms, valid for {ValidityMs:0} ms")]
    internal static partial void Acquired(ILogger logger, string resource, int attempts, double elapsedMs, double validityMs);

    [LoggerMessage(2, LogLevel.Debug, "Lock {Resource} not acquired after {Attempts} attempt(s) in {ElapsedMs:0.0} ms: {Status} ({Nodes})")]
    internal static partial void NotAcquired(ILogger logger, string resource, int attempts, double elapsedMs, LockAttemptStatus status, string nodes);

    [LoggerMessage(3, LogLevel.Warning, "Lock {Resource} lost: {Reason}")]
    internal static partial void Lost(ILogger logger, string resource, string reason);

    [LoggerMessage(4, LogLevel.Warning, "Extending lock {Resource} failed ({Nodes}); it stays valid for {RemainingMs:0} ms unless an extension succeeds")]
    internal static partial void ExtensionFailed(ILogger logger, string resource, string nodes, double remainingMs);

    [LoggerMessage(5, LogLevel.Warning, "The handle of lock {Resource} was garbage-collected without being disposed: automatic extension stopped, the lock frees itself when its TTL runs out")]
    internal static partial void Abandoned(ILogger logger, string resource);

    [LoggerMessage(6, LogLevel.Debug, "Redis master {EndPoint}: command failed: {Message}")]
    internal static partial void NodeCommandFailed(ILogger logger, string endPoint, string message);

    [LoggerMessage(7, LogLevel.Warning, "Redis master {EndPoint}: connection attempt failed: {Message}")]
    internal static partial void NodeConnectFailed(ILogger logger, string endPoint, string message);

    [LoggerMessage(8, LogLevel.Debug, "Redis master {EndPoint}: closing the connection failed")]
    internal static partial void NodeCloseFailed(ILogger logger, string endPoint, Exception exception);

    [LoggerMessage(9, LogLevel.Debug, "Releasing lock {Resource} deleted it on only {Released} of {Masters} masters (it had expired or was taken over, or masters did not answer: there it frees itself when its TTL runs out)")]
    internal static partial void ReleaseIncomplete(ILogger logger, string resource, int released, int masters);

    [LoggerMessage(10, LogLevel.Error, "Lock {Resource}: taking a fencing token failed; the lock was released")]
    internal static partial void FencingTokenFailed(ILogger logger, string resource, Exception exception);

    [LoggerMessage(11, LogLevel.Error, "Lock {Resource}: a callback registered on LostToken threw")]
    internal static partial void LostCallbackFailed(ILogger logger, string resource, Exception exception);

    [LoggerMessage(12, LogLevel.Warning, "Extending lock {Resource} started {LateMs:0} ms late and took {ElapsedMs:0} ms (is the thread pool starved, or the process paused?)")]
    internal static partial void ExtensionLate(ILogger logger, string resource, double lateMs, double elapsedMs);
}
