using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Scaling.Tenancy.Resolution;

/// <summary>
/// The <c>application/problem+json</c> responses of tenant resolution (RFC 9457): <c>type</c>, <c>title</c>, <c>status</c>,
/// <c>detail</c>, <c>instance</c>, plus <c>code</c> (a stable machine-readable reason), <c>tenant</c> when a valid tenant id
/// is known, and <c>source</c> (the strategy that read it). A malformed id is never echoed except quoted in <c>detail</c>.
/// </summary>
internal static class TenantProblem
{
    internal const string ContentType = "application/problem+json";

    internal const string MalformedCode = "tenant-malformed";
    internal const string RequiredCode = "tenant-required";
    internal const string ConflictCode = "tenant-conflict";
    internal const string ForbiddenCode = "tenant-forbidden";
    internal const string NotFoundCode = "tenant-not-found";
    internal const string UnavailableCode = "tenant-unavailable";

    internal static Task WriteAsync(
        HttpContext context,
        int status,
        string code,
        string detail,
        TenantId tenantId,
        string? source,
        CancellationToken cancellationToken,
        Action<IDictionary<string, object?>>? extensions = null)
    {
        var (type, title) = status switch
        {
            StatusCodes.Status400BadRequest => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.1", "Bad Request"),
            StatusCodes.Status403Forbidden => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.4", "Forbidden"),
            StatusCodes.Status404NotFound => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.5", "Not Found"),
            StatusCodes.Status503ServiceUnavailable => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.6.4", "Service Unavailable"),
            _ => throw new ArgumentOutOfRangeException(nameof(status), status, "Not a status code of tenant resolution."),
        };
        context.Response.StatusCode = status;
        var problem = new ProblemDetails
        {
            Type = type,
            Title = title,
            Status = status,
            Detail = detail,
            Instance = context.Request.Path.HasValue ? context.Request.Path.Value : null,
        };
        problem.Extensions["code"] = code;
        if (tenantId != default)
        {
            problem.Extensions["tenant"] = tenantId.Value;
        }

        if (source is not null)
        {
            problem.Extensions["source"] = source;
        }

        extensions?.Invoke(problem.Extensions);
        return context.Response.WriteAsJsonAsync(problem, options: null, contentType: ContentType, cancellationToken);
    }

    /// <summary>Whole seconds, rounded up, at least 1 (a client that waits that long is never early).</summary>
    internal static long RetryAfterSeconds(TimeSpan retryAfter) =>
        retryAfter <= TimeSpan.Zero ? 1 : Math.Max(1, (retryAfter.Ticks / TimeSpan.TicksPerSecond) + (retryAfter.Ticks % TimeSpan.TicksPerSecond == 0 ? 0 : 1));

    internal static string Seconds(long seconds) => seconds.ToString(CultureInfo.InvariantCulture);
}
