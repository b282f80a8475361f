namespace Scaling.RateLimit;

/// <summary>The outcome of one <see cref="RedisRateLimiter.CheckAsync"/>.</summary>
public sealed class RateLimitDecision
{
    internal RateLimitDecision(bool isAllowed, TimeSpan retryAfter, IReadOnlyList<RateLimitPolicyState> policies, bool isDegraded, string? rejectedBy, long serverTimeMicroseconds)
    {
        IsAllowed = isAllowed;
        RetryAfter = retryAfter;
        Policies = policies;
        IsDegraded = isDegraded;
        RejectedBy = rejectedBy;
        ServerTimeMicroseconds = serverTimeMicroseconds;
    }

    /// <summary>Gets a value indicating whether the request is admitted (every policy allowed it and counted it).</summary>
    public bool IsAllowed { get; }

    /// <summary>Gets how long to wait before retrying, when rejected; <see cref="TimeSpan.Zero"/> when admitted.</summary>
    public TimeSpan RetryAfter { get; }

    /// <summary>
    /// Gets each policy's state, in the order of the check. While degraded, a
    /// <see cref="RateLimitFailureMode.FailOpen"/> policy has no known state and is left out.
    /// </summary>
    public IReadOnlyList<RateLimitPolicyState> Policies { get; }

    /// <summary>
    /// Gets a value indicating whether Redis could not be used and the policies applied their
    /// <see cref="RateLimitTier.WhenRedisUnavailable"/> mode instead.
    /// </summary>
    public bool IsDegraded { get; }

    /// <summary>Gets the name of the (first) policy that rejected the request, or <see langword="null"/> when admitted.</summary>
    public string? RejectedBy { get; }

    /// <summary>Redis's clock (<c>TIME</c>, microseconds since the epoch) when the check ran; 0 when degraded.</summary>
    internal long ServerTimeMicroseconds { get; }
}
