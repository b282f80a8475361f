using System.Diagnostics.CodeAnalysis;

namespace Scaling.Tenancy;

/// <summary>
/// The identifier of a tenant, validated so that it can be used as it is as a DNS label
/// (the tenant's subdomain, e.g. <c>acme</c> in <c>acme.example.com</c>), in keys and in logs.
/// </summary>
/// <remarks>
/// <para>
/// A tenant id is 1 to 63 characters (<see cref="MaxLength"/>, the longest DNS label) of lowercase
/// ASCII letters (<c>a</c>–<c>z</c>), digits (<c>0</c>–<c>9</c>) and <c>-</c>, and starts and ends with
/// a letter or a digit.
/// </para>
/// <para>
/// Uppercase input is rejected, never lowercased: DNS host names are case-insensitive, so a resolver
/// that reads the id from a host name lowercases the host itself before parsing, while an id that
/// arrives in upper or mixed case from anywhere else (a header, a claim, a database row) is a sign of
/// an inconsistency that is better reported than silently mapped onto another tenant's id.
/// </para>
/// <para>
/// <c>default(TenantId)</c> is not a valid tenant id: its <see cref="Value"/> is the empty string, and
/// APIs that take a tenant id reject it. Compare with <c>default</c> to detect an unset id.
/// </para>
/// </remarks>
public readonly struct TenantId : IEquatable<TenantId>
{
    /// <summary>The maximum length of a tenant id: 63 characters, the longest DNS label.</summary>
    public const int MaxLength = TenantIdRules.MaxLength;

    private readonly string? _value;

    private TenantId(string value) => _value = value;

    /// <summary>Gets the identifier text; the empty string for <c>default(TenantId)</c>.</summary>
    public string Value => _value ?? string.Empty;

    /// <summary>Parses a tenant id.</summary>
    /// <param name="value">The text to parse; it must already be a valid tenant id (it is not trimmed or lowercased).</param>
    /// <returns>The tenant id.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is <see langword="null"/>.</exception>
    /// <exception cref="FormatException">
    /// <paramref name="value"/> is not a valid tenant id; the message says which character or rule is at fault.
    /// </exception>
    public static TenantId Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var error = TenantIdRules.Describe(value);
        return error is null ? new TenantId(value) : throw new FormatException(error);
    }

    /// <summary>Tries to parse a tenant id.</summary>
    /// <param name="value">The text to parse; it is not trimmed or lowercased.</param>
    /// <param name="tenantId">The tenant id when parsing succeeded; otherwise <c>default</c>.</param>
    /// <returns><see langword="true"/> when <paramref name="value"/> is a valid tenant id.</returns>
    public static bool TryParse([NotNullWhen(true)] string? value, out TenantId tenantId)
    {
        if (value is not null && TenantIdRules.IsValid(value))
        {
            tenantId = new TenantId(value);
            return true;
        }

        tenantId = default;
        return false;
    }

    /// <summary>Returns the identifier text (see <see cref="Value"/>).</summary>
    /// <returns>The identifier text.</returns>
    public override string ToString() => Value;

    /// <inheritdoc />
    public bool Equals(TenantId other) => string.Equals(Value, other.Value, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is TenantId other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Value);

    /// <summary>Determines whether two tenant ids are equal (ordinal comparison).</summary>
    /// <param name="left">The first tenant id.</param>
    /// <param name="right">The second tenant id.</param>
    /// <returns><see langword="true"/> when both are the same identifier.</returns>
    public static bool operator ==(TenantId left, TenantId right) => left.Equals(right);

    /// <summary>Determines whether two tenant ids differ (ordinal comparison).</summary>
    /// <param name="left">The first tenant id.</param>
    /// <param name="right">The second tenant id.</param>
    /// <returns><see langword="true"/> when the identifiers differ.</returns>
    public static bool operator !=(TenantId left, TenantId right) => !left.Equals(right);
}
