namespace BookingHost.Infrastructure;

/// <summary>
/// Refuses a request whose declared body is larger than the limit with 413 problem+json before anything reads it
/// (Kestrel's own limit covers bodies without a Content-Length).
/// </summary>
public static class RequestBodyLimit
{
    /// <summary>Adds the check.</summary>
    public static IApplicationBuilder UseRequestBodyLimit(this IApplicationBuilder app, long maxBytes)
        => app.Use((context, next) =>
        {
            // Not an async lambda: a request within the limit goes on with no state machine of this check's own.
            if (context.Request.ContentLength is { } length && length > maxBytes)
            {
                context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                return Results.Problem($"The request body is {length} bytes; at most {maxBytes} are accepted.", statusCode: StatusCodes.Status413PayloadTooLarge, title: "Request body too large.")
                    .ExecuteAsync(context);
            }

            return next(context);
        });
}
