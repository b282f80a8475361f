namespace Scaling.Tenancy.Sharding;

/// <summary>The outcome of a tenant write: what the write returned and the read-your-writes token.</summary>
/// <typeparam name="T">What the write returned.</typeparam>
/// <param name="Value">What the write returned.</param>
/// <param name="Token">The token of the commit, or <see langword="null"/> when it could not be read after the commit (then reads of the shard's primary are safe).</param>
public readonly record struct ShardWriteResult<T>(T Value, ShardConsistencyToken? Token);
