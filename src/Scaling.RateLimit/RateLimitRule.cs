namespace Scaling.RateLimit;

/// <summary>One policy of a <see cref="RateLimitCheck"/>, and whom it counts.</summary>
/// <param name="Policy">The policy (limit, window, algorithm, failure mode).</param>
/// <param name="Subject">Whom the policy counts (a user, API key, client address or tenant), already made key-safe.</param>
public readonly record struct RateLimitRule(RateLimitTier Policy, string Subject);
