namespace Scaling.RateLimit;

/// <summary>What a policy does while Redis cannot be reached (or its circuit breaker is open).</summary>
public enum RateLimitFailureMode
{
    /// <summary>
    /// Count in process instead (the default): a sliding window per key at the policy's limit divided by
    /// <see cref="ScalingRateLimitOptions.ExpectedInstanceCount"/>, so that the instances together stay near the global limit.
    /// </summary>
    LocalFallback = 0,

    /// <summary>Admit: the policy is not enforced while Redis is down.</summary>
    FailOpen = 1,

    /// <summary>Reject: requests that this policy applies to are refused while Redis is down.</summary>
    FailClosed = 2,
}
