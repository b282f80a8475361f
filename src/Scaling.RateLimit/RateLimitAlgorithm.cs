namespace Scaling.RateLimit;

/// <summary>How a policy counts requests in Redis.</summary>
public enum RateLimitAlgorithm
{
    /// <summary>
    /// Sliding-window counter (the default): the counts of the 17 sub-windows (1/16 of the window each) that the
    /// sliding window touches, each counted in full. One small hash of integers per key, whatever the limit (O(1)
    /// memory); never admits more than the limit in any sliding window, and may admit less by at most the count of
    /// the one sub-window the window's start is passing through.
    /// </summary>
    SlidingWindowCounter = 0,

    /// <summary>
    /// Exact sliding log: one sorted-set entry per admitted request, timestamped on Redis's clock. Never
    /// admits more than the limit in any window, at a memory cost that grows with the limit.
    /// </summary>
    SlidingLog = 1,
}
