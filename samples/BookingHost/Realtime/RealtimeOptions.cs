namespace BookingHost.Realtime;

/// <summary>Settings of the live event streams (configuration section <c>BookingHost:Realtime</c>).</summary>
public sealed class RealtimeOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "BookingHost:Realtime";

    /// <summary>
    /// Gets or sets the Redis pub/sub channel every instance publishes to and subscribes to (one channel for all
    /// businesses; the business is in the message). Instances of one deployment must use the same channel.
    /// </summary>
    public string Channel { get; set; } = "bookinghost:events";

    /// <summary>
    /// Gets or sets how many events may wait for one slow client. A client that falls this far behind is disconnected
    /// (it reconnects and reloads its view); other clients are never held up by it.
    /// </summary>
    public int ConnectionBufferSize { get; set; } = 256;

    /// <summary>Gets or sets how often a comment line is sent on every stream to keep proxies from closing it (15 s).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Gets or sets how long Redis may take to answer a publish before it counts as failed (1 s; the count comes up to
    /// half of it later). The business operation never waits for the answer, and nothing awaits it in the background.
    /// </summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets the most open streams one instance accepts; more are refused with 503.</summary>
    public int MaxConnections { get; set; } = 20_000;

    /// <summary>Gets or sets the reconnection delay suggested to clients in the stream's <c>retry:</c> field.</summary>
    public TimeSpan ClientRetry { get; set; } = TimeSpan.FromSeconds(2);
}
