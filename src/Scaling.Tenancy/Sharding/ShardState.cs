namespace Scaling.Tenancy.Sharding;

/// <summary>Whether a shard takes new tenants.</summary>
public enum ShardState
{
    /// <summary>The shard serves its tenants and new tenants may be placed on it.</summary>
    Open = 0,

    /// <summary>The shard serves its tenants, but no new tenant is placed on it automatically (e.g. it is full or being drained by moves).</summary>
    Closed = 1,
}
