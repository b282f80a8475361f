namespace Scaling.Tenancy.Migrations;

/// <summary>Where each target stands against a set of migrations (see <see cref="MigrationRunner.GetStatusAsync"/>).</summary>
/// <param name="Targets">One status per target, in the order the targets were given.</param>
public sealed record MigrationStatusReport(IReadOnlyList<MigrationTargetStatus> Targets)
{
    /// <summary>Whether every target was read and is up to date.</summary>
    public bool AllUpToDate => Targets.All(t => t.IsUpToDate);

    /// <summary>The status of the target named <paramref name="name"/>.</summary>
    /// <param name="name">The target's name.</param>
    /// <returns>Its status.</returns>
    /// <exception cref="KeyNotFoundException">No target has that name.</exception>
    public MigrationTargetStatus this[string name] =>
        Targets.FirstOrDefault(t => t.Name == name) ?? throw new KeyNotFoundException($"The status report has no target named {DisplayText.Quote(name)}.");
}
