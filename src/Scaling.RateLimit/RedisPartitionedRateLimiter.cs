using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;

namespace Scaling.RateLimit;

/// <summary>
/// The Redis rate limiter as a <see cref="PartitionedRateLimiter{TResource}"/> over <see cref="HttpContext"/>, for
/// ASP.NET Core's <c>AddRateLimiter</c>/<c>UseRateLimiter</c> (see
/// <see cref="Microsoft.Extensions.DependencyInjection.ScalingRateLimitServiceCollectionExtensions.AddScalingGlobalRateLimiter"/>). Each request is resolved to its
/// policies and checked in one Redis round trip; a rejected lease carries <see cref="MetadataName.RetryAfter"/>.
/// </summary>
/// <remarks>
/// Redis can only be asked asynchronously, so <see cref="PartitionedRateLimiter{TResource}.AttemptAcquire"/> returns a
/// lease that is not acquired and has no metadata; ASP.NET Core's middleware then calls
/// <see cref="PartitionedRateLimiter{TResource}.AcquireAsync"/>, which does the check. The decision is kept on the
/// request, so <c>UseScalingRateLimitHeaders</c> can send the rate-limit headers.
/// </remarks>
public sealed class RedisPartitionedRateLimiter : PartitionedRateLimiter<HttpContext>
{
    private readonly RedisRateLimiter _limiter;
    private readonly HttpRateLimitResolver _resolver;

    internal RedisPartitionedRateLimiter(RedisRateLimiter limiter, HttpRateLimitResolver resolver)
    {
        _limiter = limiter;
        _resolver = resolver;
    }

    /// <inheritdoc />
    /// <remarks>Counts are kept in Redis, not here: always <see langword="null"/>.</remarks>
    public override RateLimiterStatistics? GetStatistics(HttpContext resource) => null;

    /// <inheritdoc />
    protected override RateLimitLease AttemptAcquireCore(HttpContext resource, int permitCount) => DecisionLease.NotChecked;

    /// <inheritdoc />
    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(HttpContext resource, int permitCount, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(resource);
        var decision = await RateLimitPipeline.CheckAsync(_limiter, _resolver, resource, permitCount, cancellationToken).ConfigureAwait(false);
        return new DecisionLease(decision, decision.IsAllowed);
    }
}
