namespace Scaling.Tenancy;

/// <summary>
/// What the application knows about the tenant a unit of work runs for: its id, its subscription plan
/// and, once the tenant has been routed, the shard that holds its data.
/// </summary>
/// <remarks>
/// Instances are immutable; use a <see langword="with"/> expression (for example
/// <c>tenant with { ShardId = "shard-2" }</c>) to derive a changed copy. Every property is validated
/// on construction and in <see langword="with"/> expressions alike.
/// </remarks>
public sealed record TenantInfo
{
    /// <summary>Initializes a new instance of the <see cref="TenantInfo"/> class.</summary>
    /// <param name="id">The tenant's id; <c>default(TenantId)</c> is rejected.</param>
    /// <param name="plan">The name of the tenant's subscription plan (its tier), e.g. <c>premium</c>; not empty or white space.</param>
    /// <param name="shardId">The id of the shard that holds the tenant's data, or <see langword="null"/> when the tenant has not been routed yet.</param>
    /// <exception cref="ArgumentException">An argument is invalid; the message says which and why.</exception>
    public TenantInfo(TenantId id, string plan, string? shardId = null)
    {
        Id = id;
        Plan = plan;
        ShardId = shardId;
    }

    /// <summary>Gets the tenant's id.</summary>
    /// <exception cref="ArgumentException">Set to <c>default(TenantId)</c>.</exception>
    public TenantId Id
    {
        get;
        init => field = value != default
            ? value
            : throw new ArgumentException("The tenant id is default(TenantId), which is not a tenant id; obtain one from TenantId.Parse or TenantId.TryParse.", nameof(value));
    }

    /// <summary>Gets the name of the tenant's subscription plan (its tier), e.g. <c>premium</c>.</summary>
    /// <exception cref="ArgumentException">Set to an empty or white-space string.</exception>
    /// <exception cref="ArgumentNullException">Set to <see langword="null"/>.</exception>
    public string Plan
    {
        get;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            field = !string.IsNullOrWhiteSpace(value)
                ? value
                : throw new ArgumentException("The plan cannot be empty or white space; it names the tenant's subscription plan (its tier), e.g. 'premium'.", nameof(value));
        }
    }

    /// <summary>
    /// Gets the id of the shard that holds the tenant's data, or <see langword="null"/> while the tenant
    /// has not been routed to a shard.
    /// </summary>
    /// <exception cref="ArgumentException">Set to an empty or white-space string (use <see langword="null"/> for "not routed").</exception>
    public string? ShardId
    {
        get;
        init => field = value is null || !string.IsNullOrWhiteSpace(value)
            ? value
            : throw new ArgumentException("The shard id cannot be empty or white space; use null while the tenant has not been routed to a shard.", nameof(value));
    }
}
