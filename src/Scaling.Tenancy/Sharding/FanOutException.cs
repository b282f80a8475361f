namespace Scaling.Tenancy.Sharding;

/// <summary>A fan-out query under <see cref="FanOutPolicy.Complete"/> failed because at least one shard failed.</summary>
public sealed class FanOutException : Exception
{
    /// <summary>Initializes a new instance.</summary>
    /// <param name="failures">The shards that failed.</param>
    public FanOutException(IReadOnlyList<ShardFailure> failures)
        : base($"The fan-out query failed on {failures.Count} shard(s): " + string.Join("; ", failures.Select(f => $"{f.ShardId}: {f.Error.Message}")), failures.Count > 0 ? failures[0].Error : null)
        => Failures = failures;

    /// <summary>Gets the shards that failed.</summary>
    public IReadOnlyList<ShardFailure> Failures { get; }
}
