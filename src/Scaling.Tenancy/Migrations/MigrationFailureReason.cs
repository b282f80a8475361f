namespace Scaling.Tenancy.Migrations;

/// <summary>Why a target could not be migrated (see <see cref="MigrationException.Reason"/>).</summary>
public enum MigrationFailureReason
{
    /// <summary>The target's database could not be reached (connection refused, timeout, authentication, ...).</summary>
    Unreachable = 0,

    /// <summary>Another runner held the target's migration lock for longer than <see cref="MigrationRunnerOptions.LockTimeout"/>.</summary>
    LockTimeout = 1,

    /// <summary>An applied migration's script changed since it was applied (its checksum differs); nothing was applied to the target.</summary>
    ChecksumMismatch = 2,

    /// <summary>A pending migration is older than one already applied and <see cref="MigrationRunnerOptions.AllowOutOfOrder"/> is off; nothing was applied to the target.</summary>
    OutOfOrder = 3,

    /// <summary>A migration's script failed; it was rolled back (unless non-transactional) and the target stays at the previous version.</summary>
    MigrationFailed = 4,

    /// <summary>The history table could not be created or read, or another database error occurred outside a migration.</summary>
    DatabaseError = 5,
}
