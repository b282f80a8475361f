namespace Scaling.RateLimit;

/// <summary>Where one policy stands after a check: what remains of its quota and when it resets.</summary>
/// <param name="Policy">The policy.</param>
/// <param name="Remaining">The requests still allowed in the current window (0 when exhausted).</param>
/// <param name="ResetAfter">
/// When the quota is next restored: for a rejected request, when it could be admitted; otherwise when the
/// oldest sub-window with a count leaves the window, at most the window (counter), or the oldest counted request leaves
/// the window (log).
/// </param>
public readonly record struct RateLimitPolicyState(RateLimitTier Policy, long Remaining, TimeSpan ResetAfter);
