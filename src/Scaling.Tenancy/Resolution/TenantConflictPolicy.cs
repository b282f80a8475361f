namespace Scaling.Tenancy.Resolution;

/// <summary>
/// What the tenant resolution middleware does when the strategies of the chain disagree about a request's tenant.
/// The first strategy that yields a candidate always decides which tenant is resolved; the policy decides whether the
/// other strategies may veto it.
/// </summary>
public enum TenantConflictPolicy
{
    /// <summary>
    /// The default. The first candidate wins, except that the user's tenant claims are authoritative: when the chain
    /// holds a <see cref="ClaimTenantResolutionStrategy"/> and the authenticated user carries its claim type, the
    /// resolved tenant must be one of the claim's values, otherwise the request is refused with 403 (a token issued for
    /// tenant A used on <c>b.example.com</c> is a cross-tenant attempt). A user without the claim (anonymous, or a
    /// platform operator whose token carries no tenant) is not checked.
    /// </summary>
    RejectClaimMismatch = 0,

    /// <summary>The first candidate wins and the remaining strategies are not asked.</summary>
    FirstWins = 1,

    /// <summary>
    /// Every strategy is asked, and every candidate must name the resolved tenant: a differing claim is refused with 403
    /// (as under <see cref="RejectClaimMismatch"/>), any other differing candidate (say a header that contradicts the
    /// subdomain) with 400.
    /// </summary>
    RejectAnyMismatch = 2,
}
