using Microsoft.AspNetCore.Http;

namespace Scaling.RateLimit;

/// <summary>
/// The middleware of <c>UseScalingRateLimit</c> (check, headers, 429) and of <c>UseScalingRateLimitHeaders</c>
/// (headers only, for a decision made later by ASP.NET Core's <c>UseRateLimiter</c>).
/// </summary>
internal sealed class RateLimitMiddleware(RequestDelegate next, RedisRateLimiter limiter, HttpRateLimitResolver resolver, bool enforce)
{
    // Made once per middleware, so that a request registers it with its context as the state and nothing else.
    private readonly Func<object, Task> _writeHeaders = state =>
    {
        RateLimitPipeline.WriteHeaders((HttpContext)state, resolver);
        return Task.CompletedTask;
    };

    public async Task InvokeAsync(HttpContext context)
    {
        context.Response.OnStarting(_writeHeaders, context);
        if (enforce)
        {
            var decision = await RateLimitPipeline.CheckAsync(limiter, resolver, context, 1, context.RequestAborted).ConfigureAwait(false);
            if (!decision.IsAllowed)
            {
                await RateLimitPipeline.WriteRejectionAsync(context, decision, context.RequestAborted).ConfigureAwait(false);
                return;
            }
        }

        await next(context).ConfigureAwait(false);
    }
}
