namespace Scaling.Tenancy.Sharding;

/// <summary>A shard that failed in a fan-out query.</summary>
/// <param name="ShardId">The shard.</param>
/// <param name="Error">What failed (a <see cref="TimeoutException"/> when the shard timed out).</param>
/// <param name="RowsDelivered">How many of its rows had been delivered before it failed (they were returned).</param>
public sealed record ShardFailure(string ShardId, Exception Error, long RowsDelivered)
{
    /// <summary>Gets whether the shard failed by running past <see cref="FanOutOptions.ShardTimeout"/>.</summary>
    public bool TimedOut => Error is TimeoutException;
}
