namespace Scaling.Cache;

/// <summary>
/// Tenant-scoped cache keys: <c>tenant:{tenantId}:{key}</c>. <see cref="TwoTierCache"/> tags every entry whose key
/// has this form with <see cref="Tag"/> of its tenant, so <see cref="TwoTierCache.RemoveTenantAsync"/> drops all
/// of a tenant's entries on every instance in one O(1) operation.
/// </summary>
public static class TenantCacheKeys
{
    /// <summary>The prefix of tenant-scoped keys and tenant tags.</summary>
    public const string Prefix = "tenant:";

    /// <summary>The longest tenant id accepted: 63 characters (one DNS label), the same rule as <c>Scaling.Tenancy</c>'s <c>TenantId</c>.</summary>
    public const int MaxTenantIdLength = TenantIdRules.MaxLength;

    /// <summary>The key <c>tenant:{tenantId}:{key}</c>.</summary>
    /// <param name="tenantId">A tenant id: 1 to 63 characters of <c>a</c>–<c>z</c>, <c>0</c>–<c>9</c> and <c>-</c>, not starting or ending with <c>-</c> (the rule of <c>Scaling.Tenancy</c>'s <c>TenantId</c>).</param>
    /// <param name="key">The key within the tenant (validated by the cache like any key).</param>
    /// <exception cref="ArgumentException"><paramref name="tenantId"/> is not a valid tenant identifier.</exception>
    public static string Key(string tenantId, string key)
    {
        ValidateTenantId(tenantId);
        ArgumentNullException.ThrowIfNull(key);
        return string.Concat(Prefix, tenantId, ":", key);
    }

    /// <summary>The tag <c>tenant:{tenantId}</c> carried by every entry of the tenant.</summary>
    /// <param name="tenantId">A tenant id: 1 to 63 characters of <c>a</c>–<c>z</c>, <c>0</c>–<c>9</c> and <c>-</c>, not starting or ending with <c>-</c> (the rule of <c>Scaling.Tenancy</c>'s <c>TenantId</c>).</param>
    /// <exception cref="ArgumentException"><paramref name="tenantId"/> is not a valid tenant identifier.</exception>
    public static string Tag(string tenantId)
    {
        ValidateTenantId(tenantId);
        return Prefix + tenantId;
    }

    /// <summary>The tenant tag implied by a tenant-scoped key, or null for any other key.</summary>
    internal static string? TagOf(string key)
    {
        if (!key.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var end = key.IndexOf(':', Prefix.Length);
        return end > Prefix.Length && TenantIdRules.IsValid(key.AsSpan(Prefix.Length, end - Prefix.Length))
            ? key[..end]
            : null;
    }

    private static void ValidateTenantId(string tenantId)
    {
        ArgumentNullException.ThrowIfNull(tenantId);
        if (TenantIdRules.Describe(tenantId) is { } error)
        {
            throw new ArgumentException(error, nameof(tenantId));
        }
    }
}
