using Microsoft.AspNetCore.Http;

namespace Scaling.Tenancy.Resolution;

/// <summary>Reads the tenant identifier from a request header (by default <c>X-Tenant</c>).</summary>
/// <remarks>
/// A request without the header is "not applicable". A header that is present is always a candidate, even when empty
/// (then it is malformed: 400); a header sent several times yields its values joined with <c>,</c>, which is never a
/// valid tenant id (400), so a client cannot smuggle a second tenant past the first.
/// </remarks>
public sealed class HeaderTenantResolutionStrategy : ITenantResolutionStrategy
{
    /// <summary>The default header name: <c>X-Tenant</c>.</summary>
    public const string DefaultHeaderName = "X-Tenant";

    /// <summary>Initializes a new instance.</summary>
    /// <param name="headerName">The header that carries the tenant id; matched case-insensitively, as HTTP header names are.</param>
    /// <exception cref="ArgumentException"><paramref name="headerName"/> is empty, white space or contains characters that cannot be in a header name.</exception>
    public HeaderTenantResolutionStrategy(string headerName = DefaultHeaderName)
    {
        ArgumentNullException.ThrowIfNull(headerName);
        if (headerName.Length == 0 || !headerName.All(IsTokenChar))
        {
            throw new ArgumentException(
                $"The header name {DisplayText.Quote(headerName)} is not a valid HTTP header name: it must be a non-empty token (letters, digits and !#$%&'*+-.^_`|~).",
                nameof(headerName));
        }

        HeaderName = headerName;
    }

    /// <summary>Gets the header that carries the tenant id.</summary>
    public string HeaderName { get; }

    /// <inheritdoc />
    public string Name => $"header '{HeaderName}'";

    /// <inheritdoc />
    public ValueTask<string?> GetIdentifierAsync(HttpContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Request.Headers.TryGetValue(HeaderName, out var values)
            ? new ValueTask<string?>(values.Count == 1 ? values[0] ?? string.Empty : values.ToString())
            : new ValueTask<string?>((string?)null);
    }

    private static bool IsTokenChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~';
}
