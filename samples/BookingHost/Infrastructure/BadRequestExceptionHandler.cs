using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;

namespace BookingHost.Infrastructure;

/// <summary>
/// Bad request bodies (malformed JSON, unknown fields, wrong types, too large) are the client's error: 400/413
/// problem+json that says what was wrong, not a 500.
/// </summary>
public sealed class BadRequestExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    /// <inheritdoc />
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException bad)
        {
            return false;
        }

        httpContext.Response.StatusCode = bad.StatusCode;
        var detail = bad.InnerException is JsonException json ? "The request body is not valid JSON for this endpoint: " + json.Message : bad.Message;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            ProblemDetails = { Status = bad.StatusCode, Title = "The request is not valid.", Detail = detail },
            Exception = exception,
        });
    }
}
