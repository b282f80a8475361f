namespace Scaling.Tenancy.Migrations;

/// <summary>What a <see cref="MigrationTarget"/> is, which decides the migrations it receives (see <see cref="MigrationScope"/>).</summary>
public enum MigrationTargetKind
{
    /// <summary>A shard database: receives migrations scoped <see cref="MigrationScope.Shards"/> or <see cref="MigrationScope.All"/>.</summary>
    Shard = 0,

    /// <summary>The metadata database: receives migrations scoped <see cref="MigrationScope.Metadata"/> or <see cref="MigrationScope.All"/>.</summary>
    Metadata = 1,
}
