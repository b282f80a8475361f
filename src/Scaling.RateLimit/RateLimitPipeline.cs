using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Scaling.RateLimit;

/// <summary>What the middleware and the partitioned limiter share: the check of a request, and the response it gets.</summary>
internal static class RateLimitPipeline
{
    internal const string ProblemContentType = "application/problem+json";

    /// <summary>Checks the request's policies and keeps the decision on the request for the headers.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // reuses a state machine when the builder's per-thread cache has one
    internal static async ValueTask<RateLimitDecision> CheckAsync(RedisRateLimiter limiter, HttpRateLimitResolver resolver, HttpContext context, int permits, CancellationToken cancellationToken)
    {
        var check = resolver.Resolve(context);
        var decision = await limiter.CheckAsync(check, permits, cancellationToken).ConfigureAwait(false);
        context.Features.Set(new RateLimitDecisionFeature(check, decision));
        return decision;
    }

    /// <summary>
    /// Sends <c>RateLimit-Policy</c> (always) and <c>RateLimit</c> from the decision kept on the request (and
    /// <c>Retry-After</c> when it was rejected); when no decision was made, the client's policies without state.
    /// </summary>
    internal static void WriteHeaders(HttpContext context, HttpRateLimitResolver resolver)
    {
        var headers = context.Response.Headers;
        var feature = context.Features.Get<RateLimitDecisionFeature>();
        var rules = (feature?.Check ?? resolver.Resolve(context)).Rules;
        headers[RateLimitHeaderFormatter.PolicyHeaderName] = PolicyFieldValues.For(rules);
        if (feature?.Decision is not { } decision)
        {
            return;
        }

        var policies = decision.Policies;
        if (policies.Count > 0)
        {
            // Degraded with every policy failing open, nothing is known: no RateLimit field is claimed.
            // One string for the field: every policy's member written into a buffer on the stack.
            var value = new DefaultInterpolatedStringHandler(0, 0, CultureInfo.InvariantCulture, stackalloc char[256]);
            for (var i = 0; i < policies.Count; i++)
            {
                if (i > 0)
                {
                    value.AppendLiteral(", ");
                }

                var p = policies[i];
                RateLimitHeaderFormatter.AppendRateLimit(ref value, p.Policy, Math.Clamp(p.Remaining, 0, p.Policy.PermitLimit), p.ResetAfter);
            }

            headers[RateLimitHeaderFormatter.RateLimitHeaderName] = value.ToStringAndClear();
        }

        if (!decision.IsAllowed)
        {
            headers.RetryAfter = RetryAfterSeconds(decision.RetryAfter).ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Writes the 429 response: <c>Retry-After</c> and an <c>application/problem+json</c> body.</summary>
    internal static Task WriteRejectionAsync(HttpContext context, RateLimitDecision? decision, CancellationToken cancellationToken)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status429TooManyRequests;
        var seconds = decision is null ? 1 : RetryAfterSeconds(decision.RetryAfter);
        response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        var problem = new ProblemDetails
        {
            Type = "https://www.rfc-editor.org/rfc/rfc6585#section-4",
            Title = "Too Many Requests",
            Status = StatusCodes.Status429TooManyRequests,
            Detail = decision?.RejectedBy is { } policy
                ? string.Create(CultureInfo.InvariantCulture, $"The rate limit of policy {DisplayText.Quote(policy)} is exhausted; retry after {seconds} s.")
                : string.Create(CultureInfo.InvariantCulture, $"The rate limit is exhausted; retry after {seconds} s."),
            Instance = context.Request.Path.HasValue ? context.Request.Path.Value : null,
        };
        problem.Extensions["retryAfter"] = seconds;
        if (decision?.RejectedBy is { } name)
        {
            problem.Extensions["policy"] = name;
        }

        return response.WriteAsJsonAsync(problem, options: null, contentType: ProblemContentType, cancellationToken);
    }

    /// <summary>Whole seconds, rounded up, at least 1 (a client that waits that long is never early).</summary>
    internal static long RetryAfterSeconds(TimeSpan retryAfter) =>
        Math.Max(1, (retryAfter.Ticks / TimeSpan.TicksPerSecond) + (retryAfter.Ticks % TimeSpan.TicksPerSecond == 0 ? 0 : 1));
}
