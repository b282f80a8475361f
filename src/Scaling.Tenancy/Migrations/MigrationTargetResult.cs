namespace Scaling.Tenancy.Migrations;

/// <summary>What one run did to one target.</summary>
/// <param name="Name">The target's name.</param>
/// <param name="Kind">Shard or metadata.</param>
/// <param name="VersionBefore">The highest version applied before the run (0 when none); <see langword="null"/> when the target could not be read.</param>
/// <param name="VersionAfter">The highest version applied after the run (0 when none); <see langword="null"/> when the target could not be read.</param>
/// <param name="Applied">The migrations applied by this run, in order.</param>
/// <param name="UnknownAppliedVersions">
/// Versions recorded in the target's history that are not in the set given to the run (e.g. a newer release applied
/// them, or a file was removed). They are reported and logged as a warning, never undone, and do not fail the target.
/// </param>
/// <param name="Error">Why the target failed, or <see langword="null"/> when it succeeded.</param>
public sealed record MigrationTargetResult(
    string Name,
    MigrationTargetKind Kind,
    long? VersionBefore,
    long? VersionAfter,
    IReadOnlyList<AppliedMigration> Applied,
    IReadOnlyList<long> UnknownAppliedVersions,
    MigrationException? Error)
{
    /// <summary>Whether the target is now at the latest version of the set that applies to it.</summary>
    public bool Succeeded => Error is null;
}
