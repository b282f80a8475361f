using System.Text.Json;
using System.Text.Json.Serialization;

namespace BookingHost.Auth;

/// <summary>
/// Reads a JSON request body strictly: <c>application/json</c> only, at most <see cref="MaxBytes"/>, no unknown
/// fields, and every mistake answered with a problem that says where it is.
/// </summary>
public static class JsonBody
{
    /// <summary>The largest body accepted.</summary>
    public const int MaxBytes = 16 * 1024;

    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        AllowTrailingCommas = false,
        ReadCommentHandling = JsonCommentHandling.Disallow,
        MaxDepth = 8,
    };

    /// <summary>Reads the body as a <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">The request type.</typeparam>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the reading.</param>
    /// <returns>The value, or the problem to answer with.</returns>
    public static async Task<(T? Value, IResult? Problem)> ReadAsync<T>(HttpRequest request, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!request.HasJsonContentType())
        {
            return (null, AuthProblems.Problem(StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", "The request body must be JSON (Content-Type: application/json)."));
        }

        if (request.ContentLength > MaxBytes)
        {
            return (null, AuthProblems.Problem(StatusCodes.Status413PayloadTooLarge, "body-too-large", $"The request body must be at most {MaxBytes} bytes."));
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[4096];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxBytes)
            {
                return (null, AuthProblems.Problem(StatusCodes.Status413PayloadTooLarge, "body-too-large", $"The request body must be at most {MaxBytes} bytes."));
            }

            buffer.Write(chunk, 0, read);
        }

        if (buffer.Length == 0)
        {
            return (null, AuthProblems.Problem(StatusCodes.Status400BadRequest, "body-required", "The request body is required (a JSON object)."));
        }

        try
        {
            var value = JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), Options);
            return value is null
                ? (null, AuthProblems.Problem(StatusCodes.Status400BadRequest, "body-required", "The request body must be a JSON object, not null."))
                : (value, null);
        }
        catch (JsonException e)
        {
            var path = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "the body" : $"'{e.Path}'";
            var detail = e.Message.Contains("could not be mapped", StringComparison.Ordinal)
                ? $"Unknown field at {path}: only the documented fields are accepted."
                : $"The JSON is not valid at {path} (malformed, or a value of the wrong type).";
            return (null, AuthProblems.Problem(StatusCodes.Status400BadRequest, "invalid-json", detail));
        }
    }
}
