namespace Scaling.Tenancy.Sharding;

/// <summary>
/// A shard as the shard map records it: an independent PostgreSQL cluster (one primary, any number of streaming
/// replicas) that holds the data of some tenants.
/// </summary>
/// <remarks>
/// The connection strings are stored in the metadata database. Store them without passwords and add credentials in
/// <see cref="ScalingTenancyOptions.ConfigureShard"/> (or use a password file / client certificates).
/// </remarks>
public sealed record ShardInfo
{
    /// <summary>Initializes a new instance.</summary>
    /// <param name="id">The shard's id: 1–63 characters of <c>a-z</c>, <c>0-9</c> and <c>-</c>, starting and ending with a letter or digit.</param>
    /// <param name="primaryConnectionString">The Npgsql connection string of the shard's primary.</param>
    /// <param name="replicaConnectionStrings">The connection strings of its streaming replicas (may be empty).</param>
    /// <param name="state">Whether new tenants may be placed on it.</param>
    /// <exception cref="ArgumentException">An argument is invalid; the message says which.</exception>
    public ShardInfo(string id, string primaryConnectionString, IReadOnlyList<string>? replicaConnectionStrings = null, ShardState state = ShardState.Open)
    {
        ShardIds.ThrowIfInvalid(id, nameof(id));
        ArgumentException.ThrowIfNullOrWhiteSpace(primaryConnectionString);
        Id = id;
        PrimaryConnectionString = primaryConnectionString;
        ReplicaConnectionStrings = replicaConnectionStrings?.ToArray() ?? [];
        if (ReplicaConnectionStrings.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException("A replica connection string is empty.", nameof(replicaConnectionStrings));
        }

        State = state;
    }

    /// <summary>Gets the shard's id.</summary>
    public string Id { get; }

    /// <summary>Gets the connection string of the shard's primary.</summary>
    public string PrimaryConnectionString { get; }

    /// <summary>Gets the connection strings of the shard's replicas.</summary>
    public IReadOnlyList<string> ReplicaConnectionStrings { get; }

    /// <summary>Gets whether new tenants may be placed on the shard.</summary>
    public ShardState State { get; init; }

    /// <summary>Whether this and <paramref name="other"/> reach the same servers (ids and connection strings equal).</summary>
    internal bool SameServers(ShardInfo other)
        => Id == other.Id && PrimaryConnectionString == other.PrimaryConnectionString && ReplicaConnectionStrings.SequenceEqual(other.ReplicaConnectionStrings);
}
