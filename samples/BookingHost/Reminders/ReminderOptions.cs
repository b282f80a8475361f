namespace BookingHost.Reminders;

/// <summary>Settings of the reminder queue and its worker (configuration section <c>BookingHost:Reminders</c>).</summary>
public sealed class ReminderOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "BookingHost:Reminders";

    /// <summary>Gets or sets how long before a booking the <c>24h</c> reminder is due (24 h).</summary>
    public TimeSpan DayBefore { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Gets or sets how long before a booking the <c>1h</c> reminder is due (1 h); less than <see cref="DayBefore"/>.</summary>
    public TimeSpan HourBefore { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets or sets whether this instance runs the worker (the queue is written either way).</summary>
    public bool WorkerEnabled { get; set; } = true;

    /// <summary>Gets or sets how often the worker looks for due jobs on every shard (5 s).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets how many jobs one worker claims per shard in one transaction.</summary>
    public int BatchSize { get; set; } = 50;

    /// <summary>Gets or sets the attempts after which a failing job is dead-lettered (status <c>dead</c>).</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Gets or sets the delay before the first retry; it doubles with every further failure (±20 % jitter).</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the longest delay between two attempts.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets or sets how long one send may take before it counts as failed (the job's row stays locked meanwhile).</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
