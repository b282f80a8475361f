namespace BookingHost.Reminders;

/// <summary>The reminders area's logs (event ids 1501–1509).</summary>
internal static partial class ReminderLog
{
    [LoggerMessage(1501, LogLevel.Warning, "Reminder {JobId} of {Tenant} failed (attempt {Attempt}); next attempt in {Delay}")]
    public static partial void SendFailed(ILogger logger, Guid jobId, string tenant, int attempt, TimeSpan delay, Exception exception);

    [LoggerMessage(1502, LogLevel.Error, "Reminder {JobId} of {Tenant} dead-lettered after {Attempts} attempts")]
    public static partial void DeadLettered(ILogger logger, Guid jobId, string tenant, int attempts, Exception exception);

    [LoggerMessage(1503, LogLevel.Warning, "Polling reminders on shard {Shard} failed; its jobs stay pending")]
    public static partial void PollFailed(ILogger logger, string shard, Exception exception);

    [LoggerMessage(1504, LogLevel.Error, "The reminder worker does not run: the database set-up failed")]
    public static partial void SetupFailed(ILogger logger, Exception exception);

    [LoggerMessage(1505, LogLevel.Debug, "Sent {Count} reminders on shard {Shard}")]
    public static partial void BatchSent(ILogger logger, int count, string shard);
}
