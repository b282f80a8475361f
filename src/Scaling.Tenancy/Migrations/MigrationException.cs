namespace Scaling.Tenancy.Migrations;

/// <summary>
/// Why one target could not be migrated, as reported in <see cref="MigrationTargetResult.Error"/>: the target, the
/// <see cref="Reason"/>, and the migration concerned when there is one. The cause (e.g. a <c>PostgresException</c>)
/// is the inner exception.
/// </summary>
public sealed class MigrationException : Exception
{
    /// <summary>Initializes a new instance.</summary>
    public MigrationException()
        : this("A migration failed.")
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    public MigrationException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public MigrationException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="targetName">The target that failed.</param>
    /// <param name="reason">Why.</param>
    /// <param name="version">The version of the migration concerned, if any.</param>
    /// <param name="migrationName">The name of the migration concerned, if any.</param>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause, if any.</param>
    public MigrationException(string targetName, MigrationFailureReason reason, long? version, string? migrationName, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        TargetName = targetName;
        Reason = reason;
        Version = version;
        MigrationName = migrationName;
    }

    /// <summary>The target that failed.</summary>
    public string? TargetName { get; }

    /// <summary>Why it failed.</summary>
    public MigrationFailureReason Reason { get; }

    /// <summary>The version of the migration concerned (the one that failed or whose checksum changed), if any.</summary>
    public long? Version { get; }

    /// <summary>The name of the migration concerned, if any.</summary>
    public string? MigrationName { get; }
}
