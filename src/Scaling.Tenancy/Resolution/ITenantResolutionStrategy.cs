using Microsoft.AspNetCore.Http;

namespace Scaling.Tenancy.Resolution;

/// <summary>
/// One way of reading a tenant identifier from an HTTP request (the host name, a header, a claim, a route value…).
/// The strategies of <see cref="TenantResolutionOptions.Strategies"/> are asked in order; the first one that returns
/// a candidate wins.
/// </summary>
/// <remarks>
/// A strategy only reads: it returns the raw text exactly as the request carried it and never validates, trims or
/// changes its case (the middleware parses it with <see cref="TenantId.TryParse"/> and answers 400 when it is not a
/// tenant id). Strategies are singletons shared by concurrent requests, so they must be thread-safe.
/// </remarks>
public interface ITenantResolutionStrategy
{
    /// <summary>
    /// Gets a short description of where this strategy reads the identifier, e.g. <c>header 'X-Tenant'</c>. It appears in
    /// logs and in problem responses (<c>source</c>, and the list of sources tried when a tenant is required), so it must
    /// not contain secrets.
    /// </summary>
    string Name { get; }

    /// <summary>Reads the candidate tenant identifier of a request.</summary>
    /// <param name="context">The request.</param>
    /// <param name="cancellationToken">Cancels the read (the middleware passes <see cref="HttpContext.RequestAborted"/>).</param>
    /// <returns>
    /// The raw candidate text (possibly malformed; the middleware validates it), or <see langword="null"/> when the strategy
    /// does not apply to this request (no such header, a host that matches no template…).
    /// </returns>
    ValueTask<string?> GetIdentifierAsync(HttpContext context, CancellationToken cancellationToken);
}
