namespace Scaling.Tenancy.Migrations;

/// <summary>What one <see cref="MigrationRunner.RunAsync"/> did to each target.</summary>
/// <param name="Targets">One result per target, in the order the targets were given.</param>
/// <param name="Duration">How long the run took.</param>
public sealed record MigrationReport(IReadOnlyList<MigrationTargetResult> Targets, TimeSpan Duration)
{
    /// <summary>Whether every target succeeded.</summary>
    public bool Succeeded => Targets.All(t => t.Succeeded);

    /// <summary>The targets that failed (empty when <see cref="Succeeded"/>).</summary>
    public IReadOnlyList<MigrationTargetResult> Failed => [.. Targets.Where(t => !t.Succeeded)];

    /// <summary>The result for the target named <paramref name="name"/>.</summary>
    /// <param name="name">The target's name.</param>
    /// <returns>Its result.</returns>
    /// <exception cref="KeyNotFoundException">No target has that name.</exception>
    public MigrationTargetResult this[string name] =>
        Targets.FirstOrDefault(t => t.Name == name) ?? throw new KeyNotFoundException($"The report has no target named {DisplayText.Quote(name)}.");
}
