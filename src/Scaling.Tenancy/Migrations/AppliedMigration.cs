namespace Scaling.Tenancy.Migrations;

/// <summary>A migration a run applied to one target.</summary>
/// <param name="Version">Its version.</param>
/// <param name="Name">Its name.</param>
/// <param name="Duration">How long its script took.</param>
/// <param name="Transactional">Whether it ran in a transaction with its history row.</param>
public sealed record AppliedMigration(long Version, string Name, TimeSpan Duration, bool Transactional);
