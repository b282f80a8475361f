using System.Net.Mail;

namespace BookingHost.Auth;

/// <summary>The rules for account fields (e-mail, password, role, tenant, plan), with messages fit for a client.</summary>
public static class AccountValidation
{
    /// <summary>The longest e-mail address accepted (RFC 5321 path limit).</summary>
    public const int MaxEmailLength = 254;

    /// <summary>The shortest password accepted.</summary>
    public const int MinPasswordLength = 8;

    /// <summary>The longest password accepted.</summary>
    public const int MaxPasswordLength = 128;

    /// <summary>The plans a user may have.</summary>
    public static readonly IReadOnlySet<string> Plans = new HashSet<string>(StringComparer.Ordinal) { "basic", "premium" };

    /// <summary>Normalizes an e-mail address (trimmed, lower-cased) or returns why it is not valid.</summary>
    /// <param name="email">The address as given.</param>
    /// <param name="normalized">The normalized address when valid.</param>
    /// <returns><see langword="null"/> when valid; otherwise the reason.</returns>
    public static string? CheckEmail(string? email, out string normalized)
    {
        normalized = string.Empty;
        if (string.IsNullOrWhiteSpace(email))
        {
            return "The e-mail address is required.";
        }

        var trimmed = email.Trim();
        if (trimmed.Length > MaxEmailLength)
        {
            return $"The e-mail address must be at most {MaxEmailLength} characters.";
        }

        if (trimmed.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))
            || !MailAddress.TryCreate(trimmed, out var address)
            || !string.Equals(address.Address, trimmed, StringComparison.Ordinal)
            || !address.Host.Contains('.', StringComparison.Ordinal)
            || address.Host.StartsWith('.') || address.Host.EndsWith('.'))
        {
            return "The e-mail address is not valid (expected name@example.com).";
        }

        normalized = trimmed.ToLowerInvariant();
        return null;
    }

    /// <summary>Returns why a password is not acceptable, or <see langword="null"/>.</summary>
    /// <param name="password">The password.</param>
    public static string? CheckPassword(string? password) => password switch
    {
        null or "" => "The password is required.",
        { Length: < MinPasswordLength or > MaxPasswordLength } => $"The password must be {MinPasswordLength} to {MaxPasswordLength} characters.",
        _ => null,
    };

    /// <summary>Returns why a role/tenant/plan combination is not valid, keyed by field, or an empty dictionary.</summary>
    /// <param name="role">The role.</param>
    /// <param name="tenant">The business, for staff and owners.</param>
    /// <param name="plan">The plan, or <see langword="null"/>.</param>
    public static Dictionary<string, string[]> CheckRole(string? role, string? tenant, string? plan)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(role))
        {
            errors["role"] = [$"The role is required: one of {string.Join(", ", BookingRoles.All.Order(StringComparer.Ordinal))}."];
        }
        else if (!BookingRoles.All.Contains(role))
        {
            errors["role"] = [$"Unknown role; expected one of {string.Join(", ", BookingRoles.All.Order(StringComparer.Ordinal))}."];
        }
        else if (role is BookingRoles.Staff or BookingRoles.Owner)
        {
            if (string.IsNullOrEmpty(tenant))
            {
                errors["tenant"] = ["Staff and owners belong to a business: the tenant is required."];
            }
            else if (!Scaling.Tenancy.TenantId.TryParse(tenant, out _))
            {
                errors["tenant"] = ["The tenant is not a valid business id."];
            }
        }
        else if (tenant is not null)
        {
            errors["tenant"] = ["Customers and platform admins belong to no business: leave the tenant out."];
        }

        if (plan is not null && !Plans.Contains(plan))
        {
            errors["plan"] = [$"Unknown plan; expected one of {string.Join(", ", Plans.Order(StringComparer.Ordinal))}."];
        }

        return errors;
    }
}
