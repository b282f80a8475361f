using Microsoft.Extensions.Logging;

namespace Scaling.Tenancy.Migrations;

/// <summary>The log messages of the migration runner (source-generated; event ids 500–519).</summary>
internal static partial class MigrationLog
{
    [LoggerMessage(500, LogLevel.Information, "Migrating {Target} ({Kind}) from version {Version}: {PendingCount} pending")]
    public static partial void Migrating(ILogger logger, string target, MigrationTargetKind kind, long version, int pendingCount);

    [LoggerMessage(501, LogLevel.Information, "Applied migration {Version} {MigrationName} to {Target} in {DurationMilliseconds} ms")]
    public static partial void Applied(ILogger logger, string target, long version, string migrationName, double durationMilliseconds);

    [LoggerMessage(502, LogLevel.Debug, "{Target} is up to date at version {Version}")]
    public static partial void UpToDate(ILogger logger, string target, long version);

    [LoggerMessage(503, LogLevel.Error, "Migrating {Target} failed ({Reason}): {Error}")]
    public static partial void TargetFailed(ILogger logger, string target, MigrationFailureReason reason, string error, Exception exception);

    [LoggerMessage(504, LogLevel.Warning, "{Target} has applied migrations that are not in the given set: versions {Versions}")]
    public static partial void UnknownApplied(ILogger logger, string target, string versions);

    [LoggerMessage(505, LogLevel.Information, "Another runner holds the migration lock on {Target}: waiting up to {TimeoutMilliseconds} ms")]
    public static partial void WaitingForLock(ILogger logger, string target, double timeoutMilliseconds);

    [LoggerMessage(506, LogLevel.Information, "Migration run finished in {DurationMilliseconds} ms: {Succeeded} target(s) succeeded, {Failed} failed")]
    public static partial void RunFinished(ILogger logger, double durationMilliseconds, int succeeded, int failed);

    [LoggerMessage(507, LogLevel.Warning, "Releasing the migration lock on {Target} failed (it is released when the connection closes)")]
    public static partial void UnlockFailed(ILogger logger, string target, Exception exception);
}
