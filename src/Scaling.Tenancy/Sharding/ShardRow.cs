namespace Scaling.Tenancy.Sharding;

/// <summary>A row of a fan-out query, tagged with the shard it came from.</summary>
/// <typeparam name="T">The row's type.</typeparam>
/// <param name="ShardId">The shard that returned the row.</param>
/// <param name="Row">The row.</param>
public readonly record struct ShardRow<T>(string ShardId, T Row);
