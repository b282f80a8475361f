using System.Security.Cryptography;
using System.Text;
using BookingHost.Infrastructure;
using Microsoft.Extensions.Options;
using Scaling.Tenancy.Resolution;

namespace BookingHost.Idempotency;

/// <summary>
/// Runs an endpoint marked <c>.WithIdempotency()</c>: a POST or PATCH with <c>Idempotency-Key</c> runs once per
/// (business, user, key); a retry gets the first response again byte for byte with <c>Idempotent-Replayed: true</c>,
/// also on another instance. While the first is running a retry gets 409 (<c>Retry-After: 1</c>); the same key with
/// another request (method, path, query or body) gets 422; a malformed key 400. Responses with status 500 and above
/// are not kept, so such a request can be retried for real. Without the header the request simply runs.
/// </summary>
public sealed partial class IdempotencyHandler(IdempotencyStore store, IOptions<IdempotencyOptions> options, ILogger<IdempotencyHandler> logger)
{
    private const string PendingPrefix = "pending:";

    /// <summary>Runs <paramref name="next"/> under the request's idempotency key, or replays its stored response.</summary>
    /// <param name="http">The request.</param>
    /// <param name="next">The endpoint.</param>
    /// <returns>A task that completes when the response is written.</returns>
    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(next);
        var request = http.Request;
        if (!(HttpMethods.IsPost(request.Method) || HttpMethods.IsPatch(request.Method)) || !request.Headers.TryGetValue(IdempotencyOptions.HeaderName, out var values))
        {
            await next(http);
            return;
        }

        var o = options.Value;
        var cancellationToken = http.RequestAborted;
        if (values.Count != 1 || !IsValidKey(values[0]))
        {
            Count("invalid-key");
            await Problem(http, StatusCodes.Status400BadRequest, "idempotency-key-invalid", $"The {IdempotencyOptions.HeaderName} header must appear once, with 1 to {IdempotencyOptions.MaxKeyLength} printable ASCII characters (a UUID is a good key).");
            return;
        }

        var fingerprint = await FingerprintAsync(request, o.MaxRequestBytes, cancellationToken);
        if (fingerprint is null)
        {
            await Problem(http, StatusCodes.Status413PayloadTooLarge, "body-too-large", $"A request with {IdempotencyOptions.HeaderName} may have a body of at most {o.MaxRequestBytes} bytes.");
            return;
        }

        var key = RedisKey(http, values[0]!);
        var pending = PendingPrefix + Guid.NewGuid().ToString("N") + ":" + fingerprint;
        string? existing;
        try
        {
            existing = await store.BeginAsync(key, pending, o.PendingTimeout, cancellationToken);
        }
        catch (Exception e) when (BookingRedisConnection.IsUnavailable(e))
        {
            Count("store-unavailable");
            LogStoreUnavailable(logger, o.WhenStoreUnavailable, e);
            if (o.WhenStoreUnavailable == IdempotencyStoreFailureMode.RunWithoutIdempotency)
            {
                await next(http);
                return;
            }

            http.Response.Headers.RetryAfter = "1";
            await Problem(http, StatusCodes.Status503ServiceUnavailable, "idempotency-unavailable", "The idempotency store is unavailable, so the request was not run. Retry with the same key.");
            return;
        }

        if (existing is not null)
        {
            await AnswerExistingAsync(http, existing, fingerprint, cancellationToken);
            return;
        }

        await RunAndStoreAsync(http, next, key, pending, fingerprint, o);
    }

    private async Task RunAndStoreAsync(HttpContext http, RequestDelegate next, string key, string pending, string fingerprint, IdempotencyOptions o)
    {
        var original = http.Response.Body;
        using var buffer = new MemoryStream();
        http.Response.Body = buffer;
        var barrier = new ResponseBarrier();
        http.Features.Set(barrier);
        try
        {
            await next(http);
        }
        catch
        {
            http.Response.Body = original;
            await barrier.SettleAsync();
            await AbandonAsync(key, pending);
            throw;
        }
        finally
        {
            http.Features.Set<ResponseBarrier>(null);
        }

        http.Response.Body = original;
        var status = http.Response.StatusCode;
        if (status >= 500 || buffer.Length > o.MaxResponseBytes)
        {
            Count("not-stored");
            await barrier.SettleAsync();
            await AbandonAsync(key, pending);
        }
        else
        {
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            if (http.Response.ContentType is { } contentType)
            {
                headers["Content-Type"] = contentType;
            }

            foreach (var name in o.ReplayedHeaders)
            {
                if (http.Response.Headers.TryGetValue(name, out var value) && value.Count > 0)
                {
                    headers[name] = value.ToString();
                }
            }

            var record = new StoredResponse(fingerprint, status, headers, buffer.GetBuffer().AsMemory(0, (int)buffer.Length)).Serialize();
            try
            {
                // Not the request's token: a client that gave up is exactly the one that will retry. Sent while the
                // endpoint's deferred work (its invalidation) is still on its way: one wait for both round trips.
                if (!await store.CompleteAsync(key, pending, record, o.Retention, CancellationToken.None))
                {
                    LogMarkerLost(logger, o.PendingTimeout);
                }

                Count("executed");
            }
            catch (Exception e) when (BookingRedisConnection.IsUnavailable(e))
            {
                Count("not-stored");
                LogCompleteFailed(logger, e);
            }

            // The response leaves only once the endpoint's deferred work is done, as when the endpoint awaited it.
            await barrier.WhenDone;
        }

        buffer.Position = 0;
        await buffer.CopyToAsync(original, http.RequestAborted);
    }

    private static async Task AnswerExistingAsync(HttpContext http, string existing, string fingerprint, CancellationToken cancellationToken)
    {
        string storedFingerprint;
        StoredResponse? stored = null;
        if (existing.StartsWith(PendingPrefix, StringComparison.Ordinal))
        {
            storedFingerprint = existing[(existing.LastIndexOf(':') + 1)..];
        }
        else
        {
            stored = StoredResponse.Deserialize(existing);
            storedFingerprint = stored.Fingerprint;
        }

        if (!string.Equals(storedFingerprint, fingerprint, StringComparison.Ordinal))
        {
            Count("mismatch");
            await Problem(http, StatusCodes.Status422UnprocessableEntity, "idempotency-key-reused", $"This {IdempotencyOptions.HeaderName} was used for a different request (method, path or body). Use a new key for a new request.");
            return;
        }

        if (stored is null)
        {
            Count("in-progress");
            http.Response.Headers.RetryAfter = "1";
            await Problem(http, StatusCodes.Status409Conflict, "idempotency-in-progress", "A request with this Idempotency-Key is still in progress. Retry after a second with the same key to get its response.", retryable: true);
            return;
        }

        Count("replayed");
        http.Response.StatusCode = stored.Status;
        foreach (var (name, value) in stored.Headers)
        {
            http.Response.Headers[name] = value;
        }

        http.Response.Headers[IdempotencyOptions.ReplayedHeaderName] = "true";
        http.Response.ContentLength = stored.Body.Length;
        await http.Response.Body.WriteAsync(stored.Body, cancellationToken);
    }

    private async Task AbandonAsync(string key, string pending)
    {
        try
        {
            await store.AbandonAsync(key, pending, CancellationToken.None);
        }
        catch (Exception e) when (BookingRedisConnection.IsUnavailable(e))
        {
            LogAbandonFailed(logger, options.Value.PendingTimeout, e);
        }
    }

    /// <summary>Whether a key is 1 to 255 printable ASCII characters.</summary>
    internal static bool IsValidKey(string? key)
        => key is { Length: > 0 and <= IdempotencyOptions.MaxKeyLength } && key.All(c => c is >= ' ' and <= '~') && !string.IsNullOrWhiteSpace(key);

    /// <summary>
    /// The Redis key: the business that tenant resolution produced (or <c>-</c>), the signed-in user (the identity's
    /// name, which the access token's validation sets to the user id; or <c>anonymous</c>) and the SHA-256 of the client's key.
    /// </summary>
    private static string RedisKey(HttpContext http, string key)
    {
        var tenant = http.GetTenant()?.Id.Value ?? "-";
        var user = http.User.Identity is { IsAuthenticated: true, Name: { } name } && Guid.TryParse(name, out var id) ? id.ToString("N") : "anonymous";
        return $"booking:idem:{tenant}:{user}:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))}";
    }

    /// <summary>
    /// SHA-256 (hex) of method, path, query and body. The body is read once into an array of its size and the request
    /// reads it again from there (a request body here is a small JSON document: no 64 KiB file-buffering stream and
    /// copy buffer per request). <see langword="null"/> when the body is larger than <paramref name="maxBytes"/>.
    /// </summary>
    private static async Task<string?> FingerprintAsync(HttpRequest request, int maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBytes)
        {
            return null;
        }

        // One byte more than a declared length (the read that finds the end needs room to say so), at most 64 KiB
        // before any byte has arrived; the array grows as the body does.
        var body = new byte[Math.Min(request.ContentLength is { } declared ? declared + 1 : 1024, Math.Min(maxBytes + 1L, 64 * 1024))];
        var length = 0;
        while (true)
        {
            if (length == body.Length)
            {
                if (length > maxBytes)
                {
                    return null;
                }

                Array.Resize(ref body, (int)Math.Min(maxBytes + 1L, body.Length * 2L));
            }

            var read = await request.Body.ReadAsync(body.AsMemory(length), cancellationToken);
            if (read == 0)
            {
                break;
            }

            length += read;
        }

        if (length > maxBytes)
        {
            return null;
        }

        request.Body = new MemoryStream(body, 0, length, writable: false);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{request.Method}\n{request.PathBase}{request.Path}{request.QueryString}\n"));
        hash.AppendData(body, 0, length);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static Task Problem(HttpContext http, int status, string code, string detail, bool retryable = false)
    {
        var (type, title) = status switch
        {
            StatusCodes.Status400BadRequest => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.1", "Bad Request"),
            StatusCodes.Status409Conflict => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.10", "Conflict"),
            StatusCodes.Status413PayloadTooLarge => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.14", "Content Too Large"),
            StatusCodes.Status422UnprocessableEntity => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.21", "Unprocessable Content"),
            _ => ("https://www.rfc-editor.org/rfc/rfc9110#section-15.6.4", "Service Unavailable"),
        };
        var extensions = new Dictionary<string, object?>(StringComparer.Ordinal) { ["code"] = code };
        if (retryable || status == StatusCodes.Status503ServiceUnavailable)
        {
            extensions["retryable"] = true;
        }

        return Results.Problem(detail: detail, statusCode: status, title: title, type: type, extensions: extensions).ExecuteAsync(http);
    }

    private static void Count(string outcome) => IdempotencyInstruments.Requests.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    [LoggerMessage(351, LogLevel.Warning, "Idempotency store (Redis) unavailable; request with a key handled by policy {Mode}")]
    private static partial void LogStoreUnavailable(ILogger logger, IdempotencyStoreFailureMode mode, Exception exception);

    [LoggerMessage(352, LogLevel.Warning, "Idempotent request ran longer than the pending timeout {PendingTimeout}; its response was not stored (another request may have claimed the key)")]
    private static partial void LogMarkerLost(ILogger logger, TimeSpan pendingTimeout);

    [LoggerMessage(353, LogLevel.Error, "Idempotent request ran but its response could not be stored (Redis unavailable); a retry after the pending timeout runs it again")]
    private static partial void LogCompleteFailed(ILogger logger, Exception exception);

    [LoggerMessage(354, LogLevel.Warning, "Could not release an idempotency key after a failed request (Redis unavailable); retries get 409 until the pending timeout {PendingTimeout}")]
    private static partial void LogAbandonFailed(ILogger logger, TimeSpan pendingTimeout, Exception exception);
}
