using Microsoft.Extensions.Logging;

namespace Scaling.Data;

/// <summary>The log messages of Scaling.Data (source-generated).</summary>
internal static partial class DataLog
{
    [LoggerMessage(1, LogLevel.Warning, "Replica {Replica} of data source {DataSource} ejected from read routing: {Reason}")]
    public static partial void ReplicaEjected(ILogger logger, string dataSource, string replica, string reason);

    [LoggerMessage(2, LogLevel.Information, "Replica {Replica} of data source {DataSource} readmitted to read routing (lag {LagBytes} bytes, {LagMilliseconds} ms)")]
    public static partial void ReplicaReadmitted(ILogger logger, string dataSource, string replica, long lagBytes, double lagMilliseconds);

    [LoggerMessage(3, LogLevel.Debug, "Health probe of {Server} of data source {DataSource} failed")]
    public static partial void ProbeFailed(ILogger logger, string dataSource, string server, Exception exception);

    [LoggerMessage(4, LogLevel.Warning, "Read shed on data source {DataSource}: no replica could serve it and the primary already runs {Limit} fallback reads")]
    public static partial void ReadRejected(ILogger logger, string dataSource, int limit);

    [LoggerMessage(5, LogLevel.Warning, "Retrying {Operation} on data source {DataSource} after a transient failure (retry {Attempt}, in {DelayMilliseconds} ms): {Error}")]
    public static partial void Retrying(ILogger logger, string dataSource, string operation, int attempt, double delayMilliseconds, string error);

    [LoggerMessage(6, LogLevel.Warning, "Slow query on data source {DataSource} ({Role} {Server}): {DurationMilliseconds} ms: {CommandText}")]
    public static partial void SlowQuery(ILogger logger, string dataSource, ServerRole role, string server, long durationMilliseconds, string commandText);

    [LoggerMessage(7, LogLevel.Error, "The primary {Server} of data source {DataSource} is in recovery (a standby): writes will fail")]
    public static partial void PrimaryInRecovery(ILogger logger, string dataSource, string server);

    [LoggerMessage(8, LogLevel.Error, "Health monitoring of data source {DataSource} failed")]
    public static partial void MonitorFailed(ILogger logger, string dataSource, Exception exception);

    [LoggerMessage(9, LogLevel.Warning, "The circuit breaker of {Server} on data source {DataSource} opened for {BreakMilliseconds} ms")]
    public static partial void CircuitOpened(ILogger logger, string dataSource, string server, double breakMilliseconds);

    [LoggerMessage(10, LogLevel.Information, "Partition maintenance of {Table}: created {Created}, detached {Detached}, dropped {Dropped}")]
    public static partial void PartitionsMaintained(ILogger logger, string table, string created, string detached, string dropped);

    [LoggerMessage(11, LogLevel.Error, "Partition maintenance of {Table} failed")]
    public static partial void PartitionMaintenanceFailed(ILogger logger, string table, Exception exception);

    [LoggerMessage(12, LogLevel.Warning, "{Server} of data source {DataSource} did not answer its health probe within {TimeoutMilliseconds} ms: callers stop waiting for its work in flight and new work fails fast until it answers")]
    public static partial void ServerNotAnswering(ILogger logger, string dataSource, string server, double timeoutMilliseconds);

    [LoggerMessage(13, LogLevel.Information, "{Server} of data source {DataSource} answers its health probe again")]
    public static partial void ServerAnsweringAgain(ILogger logger, string dataSource, string server);
}
