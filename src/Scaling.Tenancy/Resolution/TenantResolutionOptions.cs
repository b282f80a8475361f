namespace Scaling.Tenancy.Resolution;

/// <summary>
/// Options of the tenant resolution middleware: the ordered chain of strategies that read a tenant identifier from a
/// request, and what happens when they disagree. Validated when the host starts (see
/// <see cref="TenantResolutionOptionsValidator"/>); read once, when the middleware is built.
/// </summary>
/// <example>
/// <code>
/// services.AddScalingTenantResolution(o =&gt; o
///     .AddSubdomain("{tenant}.example.com", "{tenant}.localhost")
///     .AddHeader()          // X-Tenant
///     .AddClaim()           // claim 'tenant' of the authenticated user
///     .AddRouteValue());    // /{tenant}/…
/// </code>
/// </example>
public sealed class TenantResolutionOptions
{
    /// <summary>
    /// Gets the strategies, in the order they are asked; the first that yields a candidate identifier decides the tenant.
    /// Must not be empty. The <c>Add…</c> methods append to it.
    /// </summary>
    public IList<ITenantResolutionStrategy> Strategies { get; } = [];

    /// <summary>
    /// Gets or sets what happens when strategies disagree about the tenant. Default
    /// <see cref="TenantConflictPolicy.RejectClaimMismatch"/>: the first candidate wins, but a user whose tenant claim
    /// names another tenant is refused with 403.
    /// </summary>
    public TenantConflictPolicy ConflictPolicy { get; set; } = TenantConflictPolicy.RejectClaimMismatch;

    /// <summary>Appends a <see cref="SubdomainTenantResolutionStrategy"/> with the given host templates.</summary>
    /// <param name="templates">Host templates such as <c>{tenant}.example.com</c>, tried in order.</param>
    /// <returns>These options, for chaining.</returns>
    /// <exception cref="ArgumentException">A template is invalid; the message names it and says why.</exception>
    public TenantResolutionOptions AddSubdomain(params IEnumerable<string> templates) =>
        Add(nameof(AddSubdomain), () => new SubdomainTenantResolutionStrategy(templates));

    /// <summary>Appends a <see cref="HeaderTenantResolutionStrategy"/>.</summary>
    /// <param name="headerName">The header that carries the tenant id. Default <c>X-Tenant</c>.</param>
    /// <returns>These options, for chaining.</returns>
    /// <exception cref="ArgumentException"><paramref name="headerName"/> is not a header name.</exception>
    public TenantResolutionOptions AddHeader(string headerName = HeaderTenantResolutionStrategy.DefaultHeaderName) =>
        Add(nameof(AddHeader), () => new HeaderTenantResolutionStrategy(headerName));

    /// <summary>Appends a <see cref="ClaimTenantResolutionStrategy"/> (authentication must run before the middleware).</summary>
    /// <param name="claimType">The claim type that holds the user's tenant id. Default <c>tenant</c>.</param>
    /// <returns>These options, for chaining.</returns>
    /// <exception cref="ArgumentException"><paramref name="claimType"/> is empty.</exception>
    public TenantResolutionOptions AddClaim(string claimType = ClaimTenantResolutionStrategy.DefaultClaimType) =>
        Add(nameof(AddClaim), () => new ClaimTenantResolutionStrategy(claimType));

    /// <summary>Appends a <see cref="RouteValueTenantResolutionStrategy"/>.</summary>
    /// <param name="routeKey">The route value that holds the tenant id. Default <c>tenant</c>.</param>
    /// <returns>These options, for chaining.</returns>
    /// <exception cref="ArgumentException"><paramref name="routeKey"/> is empty.</exception>
    public TenantResolutionOptions AddRouteValue(string routeKey = RouteValueTenantResolutionStrategy.DefaultRouteKey) =>
        Add(nameof(AddRouteValue), () => new RouteValueTenantResolutionStrategy(routeKey));

    /// <summary>Appends a custom strategy.</summary>
    /// <param name="strategy">The strategy; a singleton shared by concurrent requests.</param>
    /// <returns>These options, for chaining.</returns>
    public TenantResolutionOptions Add(ITenantResolutionStrategy strategy)
    {
        ArgumentNullException.ThrowIfNull(strategy);
        Strategies.Add(strategy);
        return this;
    }

    private TenantResolutionOptions Add(string method, Func<ITenantResolutionStrategy> create)
    {
        ITenantResolutionStrategy strategy;
        try
        {
            strategy = create();
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"{nameof(TenantResolutionOptions)}.{method}: {MessageWithoutParameter(ex)}", ex);
        }

        Strategies.Add(strategy);
        return this;
    }

    /// <summary>The exception's message without the " (Parameter 'x')" that <see cref="ArgumentException.Message"/> appends.</summary>
    internal static string MessageWithoutParameter(ArgumentException exception)
    {
        var message = exception.Message;
        var suffix = exception.ParamName is { } parameter ? $" (Parameter '{parameter}')" : null;
        return suffix is not null && message.EndsWith(suffix, StringComparison.Ordinal) ? message[..^suffix.Length] : message;
    }
}
