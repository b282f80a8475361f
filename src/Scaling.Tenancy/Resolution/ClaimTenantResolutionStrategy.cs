using Microsoft.AspNetCore.Http;

namespace Scaling.Tenancy.Resolution;

/// <summary>
/// Reads the tenant identifier from a claim of the authenticated user (<see cref="HttpContext.User"/>; by default the
/// claim type <c>tenant</c>), for example from a JWT bearer token. Authentication must run before the tenant
/// resolution middleware (<c>app.UseAuthentication()</c> first).
/// </summary>
/// <remarks>
/// <para>
/// A request whose user has no such claim (anonymous, or a token without it) is "not applicable". When the user has
/// several claims of the type, the first one is the candidate.
/// </para>
/// <para>
/// Besides resolving, the claim guards against cross-tenant requests: under
/// <see cref="TenantConflictPolicy.RejectClaimMismatch"/> (the default) a request whose tenant was resolved by another
/// strategy (say the subdomain) is refused with 403 when the user carries this claim type and none of its values is
/// that tenant's id. See <see cref="TenantResolutionOptions.ConflictPolicy"/>.
/// </para>
/// </remarks>
public sealed class ClaimTenantResolutionStrategy : ITenantResolutionStrategy
{
    /// <summary>The default claim type: <c>tenant</c>.</summary>
    public const string DefaultClaimType = "tenant";

    /// <summary>Initializes a new instance.</summary>
    /// <param name="claimType">The claim type that holds the user's tenant id (matched case-insensitively, as <see cref="System.Security.Claims.ClaimsIdentity"/> does).</param>
    /// <exception cref="ArgumentException"><paramref name="claimType"/> is empty or white space.</exception>
    public ClaimTenantResolutionStrategy(string claimType = DefaultClaimType)
    {
        ArgumentNullException.ThrowIfNull(claimType);
        if (string.IsNullOrWhiteSpace(claimType))
        {
            throw new ArgumentException("The claim type is empty or white space; name the claim that holds the user's tenant id, e.g. 'tenant'.", nameof(claimType));
        }

        ClaimType = claimType;
    }

    /// <summary>Gets the claim type that holds the user's tenant id.</summary>
    public string ClaimType { get; }

    /// <inheritdoc />
    public string Name => $"claim '{ClaimType}'";

    /// <inheritdoc />
    public ValueTask<string?> GetIdentifierAsync(HttpContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new ValueTask<string?>(RequestUser.Of(context)?.FindFirst(ClaimType)?.Value);
    }

    /// <summary>Whether the user carries this claim type at all, and if so whether one of its values is <paramref name="tenantId"/>.</summary>
    internal (bool HasClaim, bool Matches) Check(HttpContext context, TenantId tenantId)
    {
        var hasClaim = false;
        var user = RequestUser.Of(context);
        if (user is null)
        {
            return (false, false);
        }

        foreach (var claim in user.FindAll(ClaimType))
        {
            hasClaim = true;
            if (string.Equals(claim.Value, tenantId.Value, StringComparison.Ordinal))
            {
                return (true, true);
            }
        }

        return (hasClaim, false);
    }
}
