namespace Scaling.Tenancy.Migrations;

/// <summary>Where one target stands against a set of migrations (see <see cref="MigrationRunner.GetStatusAsync"/>).</summary>
/// <param name="Name">The target's name.</param>
/// <param name="Kind">Shard or metadata.</param>
/// <param name="Reachable">Whether the target's database answered.</param>
/// <param name="CurrentVersion">The highest version applied (0 when none); <see langword="null"/> when the history could not be read.</param>
/// <param name="AppliedCount">How many migrations the target's history records.</param>
/// <param name="Pending">The migrations of the set that apply to the target and are not applied yet, in order.</param>
/// <param name="ChecksumMismatches">Applied migrations whose script has changed since (a run would fail the target).</param>
/// <param name="UnknownAppliedVersions">Versions in the target's history that are not in the set.</param>
/// <param name="Error">Why the status could not be read (unreachable, permission denied, ...), or <see langword="null"/>.</param>
public sealed record MigrationTargetStatus(
    string Name,
    MigrationTargetKind Kind,
    bool Reachable,
    long? CurrentVersion,
    int AppliedCount,
    IReadOnlyList<SqlMigration> Pending,
    IReadOnlyList<ChecksumMismatch> ChecksumMismatches,
    IReadOnlyList<long> UnknownAppliedVersions,
    string? Error)
{
    /// <summary>Whether the target was read, has nothing pending and no changed script.</summary>
    public bool IsUpToDate => Error is null && Pending.Count == 0 && ChecksumMismatches.Count == 0;
}
