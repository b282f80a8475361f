namespace Scaling.Tenancy.Migrations;

/// <summary>Options of <see cref="MigrationRunner"/> (validated by <see cref="MigrationRunnerOptionsValidator"/>).</summary>
public sealed class MigrationRunnerOptions
{
    /// <summary>
    /// The schema of the history table in every target (created if missing). Lowercase letters, digits and <c>_</c>,
    /// not starting with a digit, at most 63 characters. Default <c>scaling_tenancy</c>.
    /// </summary>
    public string HistorySchema { get; set; } = "scaling_tenancy";

    /// <summary>
    /// The history table in every target (created if missing): one row per applied migration with its version, name,
    /// checksum, time and duration. Same rules as <see cref="HistorySchema"/>. Default <c>schema_migrations</c>. The
    /// advisory lock that keeps two runners apart is keyed on the qualified name, so runners with different history
    /// tables do not block each other.
    /// </summary>
    public string HistoryTable { get; set; } = "schema_migrations";

    /// <summary>
    /// How long a run waits for the migration lock of a target that another runner holds before that target fails
    /// with <see cref="MigrationFailureReason.LockTimeout"/>. Whole milliseconds, more than zero and at most a day.
    /// Default 5 minutes.
    /// </summary>
    public TimeSpan LockTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The command timeout of each migration script, in whole seconds; <see cref="TimeSpan.Zero"/> waits without limit.
    /// At most a day. Default 10 minutes.
    /// </summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How many targets are migrated at the same time (1 to 64). Default 4.</summary>
    public int MaxParallelism { get; set; } = 4;

    /// <summary>
    /// Whether a pending migration whose version is lower than one already applied to the target is applied anyway
    /// (e.g. after two branches merged). Default <see langword="false"/>: the target fails with
    /// <see cref="MigrationFailureReason.OutOfOrder"/> and nothing is applied to it.
    /// </summary>
    public bool AllowOutOfOrder { get; set; }
}
