using Npgsql;

namespace Scaling.Tenancy.Migrations;

/// <summary>
/// One database migrations are applied to: a shard's primary or the metadata database. The caller owns
/// <see cref="DataSource"/> (the runner neither disposes it nor keeps it after a run).
/// </summary>
public sealed class MigrationTarget
{
    /// <summary>Describes a target.</summary>
    /// <param name="name">A name for reports and logs, unique among the targets of one run (e.g. <c>shard-1</c>, <c>metadata</c>).</param>
    /// <param name="kind">Whether it is a shard or the metadata database.</param>
    /// <param name="dataSource">The database's primary (migrations write).</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    public MigrationTarget(string name, MigrationTargetKind kind, NpgsqlDataSource dataSource)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(dataSource);
        if (!Enum.IsDefined(kind))
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a MigrationTargetKind.");
        }

        Name = name;
        Kind = kind;
        DataSource = dataSource;
    }

    /// <summary>The target's name in reports and logs.</summary>
    public string Name { get; }

    /// <summary>Whether the target is a shard or the metadata database.</summary>
    public MigrationTargetKind Kind { get; }

    /// <summary>The database's primary.</summary>
    public NpgsqlDataSource DataSource { get; }

    /// <summary>Whether a migration of <paramref name="scope"/> applies to this target.</summary>
    /// <param name="scope">The migration's scope.</param>
    /// <returns><see langword="true"/> when the migration applies.</returns>
    public bool Receives(MigrationScope scope) =>
        scope.HasFlag(Kind == MigrationTargetKind.Shard ? MigrationScope.Shards : MigrationScope.Metadata);

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({Kind})";
}
