namespace BookingHost.Idempotency;

/// <summary>What an endpoint with <c>.WithIdempotency()</c> does with a request that carries a key while Redis cannot be reached.</summary>
public enum IdempotencyStoreFailureMode
{
    /// <summary>Refuse it with 503 and <c>Retry-After</c> (the default): the client asked for exactly-once, and a retry with the same key is safe.</summary>
    Reject = 0,

    /// <summary>Run it without idempotency (a retry may then create a duplicate); logged and counted.</summary>
    RunWithoutIdempotency = 1,
}

/// <summary>Settings of <c>Idempotency-Key</c> handling (configuration section <c>BookingHost:Idempotency</c>).</summary>
public sealed class IdempotencyOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "BookingHost:Idempotency";

    /// <summary>The request header.</summary>
    public const string HeaderName = "Idempotency-Key";

    /// <summary>The response header on a replayed response (value <c>true</c>).</summary>
    public const string ReplayedHeaderName = "Idempotent-Replayed";

    /// <summary>The longest key accepted.</summary>
    public const int MaxKeyLength = 255;

    /// <summary>
    /// Gets or sets how long the "in progress" marker of a first request lives: a retry within it gets 409, after it
    /// the request may run again (so it must outlast the slowest request). Default 30 seconds.
    /// </summary>
    public TimeSpan PendingTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets how long a completed response is kept for replay. Default 24 hours.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Gets or sets the largest request body fingerprinted (a larger one is refused with 413). Default 1 MiB.</summary>
    public int MaxRequestBytes { get; set; } = 1024 * 1024;

    /// <summary>Gets or sets the largest response body stored (a larger response is not kept: a retry runs again). Default 256 KiB.</summary>
    public int MaxResponseBytes { get; set; } = 256 * 1024;

    /// <summary>Gets the response headers stored and replayed besides <c>Content-Type</c>.</summary>
    public IList<string> ReplayedHeaders { get; } = ["Location", "X-Consistency-Token"];

    /// <summary>Gets or sets what happens to a request with a key while Redis cannot be reached. Default <see cref="IdempotencyStoreFailureMode.Reject"/>.</summary>
    public IdempotencyStoreFailureMode WhenStoreUnavailable { get; set; }
}
