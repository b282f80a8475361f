namespace Scaling.RateLimit;

/// <summary>The decision made for the current request, kept in <c>HttpContext.Features</c> for the response headers.</summary>
internal sealed class RateLimitDecisionFeature(RateLimitDecision decision)
{
    internal RateLimitDecision Decision { get; } = decision;
}
