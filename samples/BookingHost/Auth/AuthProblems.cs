namespace BookingHost.Auth;

/// <summary>The <c>application/problem+json</c> results of the auth endpoints (RFC 9457), each with a stable <c>code</c>.</summary>
internal static class AuthProblems
{
    public static IResult Problem(int status, string code, string detail, IDictionary<string, object?>? extensions = null)
    {
        var (type, title) = status switch
        {
            StatusCodes.Status400BadRequest => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.1", "Bad Request"),
            StatusCodes.Status401Unauthorized => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.2", "Unauthorized"),
            StatusCodes.Status403Forbidden => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.4", "Forbidden"),
            StatusCodes.Status409Conflict => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.10", "Conflict"),
            StatusCodes.Status413PayloadTooLarge => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.14", "Content Too Large"),
            StatusCodes.Status415UnsupportedMediaType => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.16", "Unsupported Media Type"),
            StatusCodes.Status422UnprocessableEntity => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.21", "Unprocessable Content"),
            StatusCodes.Status503ServiceUnavailable => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.6.4", "Service Unavailable"),
            _ => ("about:blank", "Error"),
        };
        var all = new Dictionary<string, object?>(StringComparer.Ordinal) { ["code"] = code };
        if (extensions is not null)
        {
            foreach (var (key, value) in extensions)
            {
                all[key] = value;
            }
        }

        return Results.Problem(detail: detail, statusCode: status, title: title, type: type, extensions: all);
    }

    public static IResult Validation(Dictionary<string, string[]> errors) => Results.ValidationProblem(
        errors,
        detail: "One or more fields are not valid: " + string.Join(", ", errors.Keys) + ".",
        title: "Bad Request",
        type: "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.1",
        extensions: new Dictionary<string, object?>(StringComparer.Ordinal) { ["code"] = "validation-failed" });
}
