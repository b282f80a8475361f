namespace BookingHost.Api;

/// <summary>problem+json results for the domain's errors.</summary>
public static class Problems
{
    /// <summary>400 with the failing fields.</summary>
    public static IResult Validation(params (string Field, string Message)[] errors)
        => Results.ValidationProblem(errors.GroupBy(e => e.Field).ToDictionary(g => g.Key, g => g.Select(e => e.Message).ToArray()), title: "The request is not valid.");

    /// <summary>404.</summary>
    public static IResult NotFound(string detail) => Results.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found.");

    /// <summary>409.</summary>
    public static IResult Conflict(string detail) => Results.Problem(detail, statusCode: StatusCodes.Status409Conflict, title: "Conflict.");

    /// <summary>403.</summary>
    public static IResult Forbidden(string detail) => Results.Problem(detail, statusCode: StatusCodes.Status403Forbidden, title: "Forbidden.");

    /// <summary>503 with Retry-After.</summary>
    public static IResult Unavailable(HttpContext http, string detail, int retryAfterSeconds = 1)
    {
        http.Response.Headers.RetryAfter = retryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Results.Problem(detail, statusCode: StatusCodes.Status503ServiceUnavailable, title: "Temporarily unavailable.");
    }
}
