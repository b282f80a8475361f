namespace Scaling.Tenancy.Sharding;

/// <summary>What a fan-out query does when a shard fails or times out.</summary>
public enum FanOutPolicy
{
    /// <summary>The query fails (<see cref="FanOutException"/>) as soon as any shard fails; the other shards are cancelled.</summary>
    Complete = 0,

    /// <summary>The query returns the rows of the shards that answered and reports the others in <see cref="FanOutQuery{T}.Failures"/>.</summary>
    Partial = 1,
}
