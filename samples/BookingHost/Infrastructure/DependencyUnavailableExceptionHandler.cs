using Microsoft.AspNetCore.Diagnostics;
using Scaling.Data;
using StackExchange.Redis;

namespace BookingHost.Infrastructure;

/// <summary>
/// A server that the request needs is down, silent or saturated (a PostgreSQL primary that stopped answering, no
/// replica and no fallback slot, Redis timing out): that is a 503 problem+json with <c>Retry-After</c>, so a client or
/// load balancer retries, never a 500. The libraries bound each of these waits (see their READMEs), so the answer is fast.
/// </summary>
public sealed class DependencyUnavailableExceptionHandler(IProblemDetailsService problems, ILogger<DependencyUnavailableExceptionHandler> logger) : IExceptionHandler
{
    /// <summary>The <c>Retry-After</c> sent with these answers, in seconds.</summary>
    public const int RetryAfterSeconds = 1;

    /// <inheritdoc />
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (Describe(exception) is not { } detail || httpContext.Response.HasStarted)
        {
            return false;
        }

        BookingHostLog.DependencyUnavailable(logger, httpContext.Request.Method, httpContext.Request.Path, exception.GetType().Name, exception.Message);
        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        httpContext.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            ProblemDetails = { Status = StatusCodes.Status503ServiceUnavailable, Title = "Temporarily unavailable.", Detail = detail },
        });
    }

    /// <summary>What to tell the client, or <see langword="null"/> when <paramref name="exception"/> is not a dependency outage.</summary>
    internal static string? Describe(Exception exception) => exception switch
    {
        PrimaryUnavailableException => "The database that holds this data cannot take writes right now; nothing was written. Retry shortly.",
        ReadCapacityExceededException => "The database is overloaded (no replica can serve this read); retry shortly.",
        RedisException or RedisTimeoutException => "A cache or coordination server is not answering; retry shortly.",
        Scaling.Locks.LockTimeoutException => "Another request holds this resource; retry shortly.",
        TimeoutException => "A server this request needs did not answer in time; if this was a write, its outcome is unknown: retry with the same Idempotency-Key.",
        Npgsql.NpgsqlException e when TransientErrors.IsConnectionFailure(e) => "The database connection failed; if this was a write, its outcome is unknown: retry with the same Idempotency-Key.",
        _ => null,
    };
}

/// <summary>Log messages of <see cref="DependencyUnavailableExceptionHandler"/>.</summary>
internal static partial class BookingHostLog
{
    [LoggerMessage(1901, LogLevel.Warning, "{Method} {Path} answered 503: {ExceptionType}: {Reason}")]
    public static partial void DependencyUnavailable(ILogger logger, string method, string path, string exceptionType, string reason);
}
