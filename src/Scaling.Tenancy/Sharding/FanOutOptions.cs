namespace Scaling.Tenancy.Sharding;

/// <summary>Options of one fan-out query.</summary>
public sealed class FanOutOptions
{
    /// <summary>Gets or sets what happens when a shard fails; <see cref="FanOutPolicy.Complete"/> by default.</summary>
    public FanOutPolicy Policy { get; set; } = FanOutPolicy.Complete;

    /// <summary>Gets or sets how long one shard may take to deliver all its rows; 30 s by default.</summary>
    public TimeSpan ShardTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the shards to query; every shard of the map when <see langword="null"/> (the default).</summary>
    public IReadOnlyCollection<string>? Shards { get; set; }

    /// <summary>Gets or sets whether to read from the shards' primaries instead of their replicas; <see langword="false"/> by default.</summary>
    public bool ReadFromPrimary { get; set; }
}
