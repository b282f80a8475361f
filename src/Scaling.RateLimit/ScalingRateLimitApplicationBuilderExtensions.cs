using Microsoft.Extensions.DependencyInjection;
using Scaling.RateLimit;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds Scaling.RateLimit's middleware to an ASP.NET Core pipeline.</summary>
public static class ScalingRateLimitApplicationBuilderExtensions
{
    /// <summary>
    /// Checks every request against its policies (one Redis round trip), answers 429 with <c>Retry-After</c> and an
    /// <c>application/problem+json</c> body when a policy is exhausted, and sends the <c>RateLimit-Policy</c> and
    /// <c>RateLimit</c> headers on every response. Place it after authentication (it reads the user's claims).
    /// </summary>
    /// <param name="app">The application builder.</param>
    /// <returns><paramref name="app"/>, for chaining.</returns>
    public static IApplicationBuilder UseScalingRateLimit(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.UseMiddleware<RateLimitMiddleware>(
            app.ApplicationServices.GetRequiredService<RedisRateLimiter>(),
            app.ApplicationServices.GetRequiredService<HttpRateLimitResolver>(),
            true);
    }

    /// <summary>
    /// Sends the <c>RateLimit-Policy</c> and <c>RateLimit</c> headers (and <c>Retry-After</c> on 429) for the decision
    /// that ASP.NET Core's <c>UseRateLimiter</c> makes with <see cref="RedisPartitionedRateLimiter"/>. Place it before
    /// <c>app.UseRateLimiter()</c>.
    /// </summary>
    /// <param name="app">The application builder.</param>
    /// <returns><paramref name="app"/>, for chaining.</returns>
    public static IApplicationBuilder UseScalingRateLimitHeaders(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.UseMiddleware<RateLimitMiddleware>(
            app.ApplicationServices.GetRequiredService<RedisRateLimiter>(),
            app.ApplicationServices.GetRequiredService<HttpRateLimitResolver>(),
            false);
    }
}
