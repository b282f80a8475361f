namespace Scaling.RateLimit;

/// <summary>The check and decision made for the current request, kept in <c>HttpContext.Features</c> for the response headers.</summary>
internal sealed class RateLimitDecisionFeature(RateLimitCheck check, RateLimitDecision decision)
{
    internal RateLimitCheck Check { get; } = check;

    internal RateLimitDecision Decision { get; } = decision;
}
