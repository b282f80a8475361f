using System.Buffers;
using System.Globalization;

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

    /// <summary>The longest tenant identifier accepted: 64 characters.</summary>
    public const int MaxTenantIdLength = 64;

    private static readonly SearchValues<char> TenantIdCharacters =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

    /// <summary>The key <c>tenant:{tenantId}:{key}</c>.</summary>
    /// <param name="tenantId">1 to 64 characters: ASCII letters, digits, <c>.</c>, <c>_</c> and <c>-</c>.</param>
    /// <param name="key">The key within the tenant (validated by the cache like any key).</param>
    /// <exception cref="ArgumentException"><paramref name="tenantId"/> is not a valid tenant identifier.</exception>
    public static string Key(string tenantId, string key)
    {
        ValidateTenantId(tenantId);
        ArgumentNullException.ThrowIfNull(key);
        return string.Concat(Prefix, tenantId, ":", key);
    }

    /// <summary>The tag <c>tenant:{tenantId}</c> carried by every entry of the tenant.</summary>
    /// <param name="tenantId">1 to 64 characters: ASCII letters, digits, <c>.</c>, <c>_</c> and <c>-</c>.</param>
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
        return end > Prefix.Length && end - Prefix.Length <= MaxTenantIdLength
            && key.AsSpan(Prefix.Length, end - Prefix.Length).IndexOfAnyExcept(TenantIdCharacters) < 0
            ? key[..end]
            : null;
    }

    private static void ValidateTenantId(string tenantId)
    {
        ArgumentNullException.ThrowIfNull(tenantId);
        if (tenantId.Length == 0 || tenantId.Length > MaxTenantIdLength)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"A tenant identifier must be 1 to {MaxTenantIdLength} characters long; {DisplayText.Quote(tenantId)} is {tenantId.Length}."),
                nameof(tenantId));
        }

        var bad = tenantId.AsSpan().IndexOfAnyExcept(TenantIdCharacters);
        if (bad >= 0)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The tenant identifier {DisplayText.Quote(tenantId)} contains {DisplayText.Describe(tenantId[bad])} at index {bad}; only ASCII letters, digits, '.', '_' and '-' are allowed."),
                nameof(tenantId));
        }
    }
}
