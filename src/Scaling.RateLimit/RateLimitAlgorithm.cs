namespace Scaling.RateLimit;

/// <summary>How a policy counts requests in Redis.</summary>
public enum RateLimitAlgorithm
{
    /// <summary>
    /// Sliding-window counter (the default): the count of the current fixed window plus the previous window's
    /// count weighted by how much of it still overlaps the sliding window. One small hash per key, whatever the
    /// limit (O(1) memory); exact when traffic is even, within about 1 % under sustained load.
    /// </summary>
    SlidingWindowCounter = 0,

    /// <summary>
    /// Exact sliding log: one sorted-set entry per admitted request, timestamped on Redis's clock. Never
    /// admits more than the limit in any window, at a memory cost that grows with the limit.
    /// </summary>
    SlidingLog = 1,
}
