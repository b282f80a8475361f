namespace Scaling.Tenancy.Migrations;

/// <summary>Which databases a <see cref="SqlMigration"/> applies to.</summary>
[Flags]
#pragma warning disable CA1008 // No "None": a migration that applies nowhere is a mistake, rejected by SqlMigration.
public enum MigrationScope
#pragma warning restore CA1008
{
    /// <summary>Every shard database (targets of kind <see cref="MigrationTargetKind.Shard"/>).</summary>
    Shards = 1,

    /// <summary>The metadata database (targets of kind <see cref="MigrationTargetKind.Metadata"/>).</summary>
    Metadata = 2,

    /// <summary>Every shard and the metadata database.</summary>
    All = Shards | Metadata,
}
