namespace BookingHost.Realtime;

/// <summary>The real-time area's logs (event ids 1401–1409).</summary>
internal static partial class RealtimeLog
{
    [LoggerMessage(1401, LogLevel.Warning, "Events cannot be published to Redis ({Reason}); local clients still receive them, other instances' clients do not until Redis is back")]
    public static partial void PublishFailing(ILogger logger, string reason, Exception? exception);

    [LoggerMessage(1402, LogLevel.Information, "Publishing events to Redis again")]
    public static partial void PublishRecovered(ILogger logger);

    [LoggerMessage(1403, LogLevel.Warning, "Subscribing to the event channel {Channel} failed; retrying")]
    public static partial void SubscribeFailed(ILogger logger, string channel, Exception exception);

    [LoggerMessage(1404, LogLevel.Information, "Subscribed to the event channel {Channel}")]
    public static partial void Subscribed(ILogger logger, string channel);

    [LoggerMessage(1405, LogLevel.Warning, "An event from Redis could not be read and was ignored")]
    public static partial void BadMessage(ILogger logger, Exception? exception);

    [LoggerMessage(1406, LogLevel.Warning, "An event of type {Type} was not published: its type must be 1–100 characters without line breaks")]
    public static partial void InvalidEvent(ILogger logger, string type);

    [LoggerMessage(1407, LogLevel.Information, "A client of {Tenant} fell {Buffer} events behind and was disconnected")]
    public static partial void ClientOverflow(ILogger logger, string tenant, int buffer);

    [LoggerMessage(1408, LogLevel.Information, "Redis subscription connection restored")]
    public static partial void ConnectionRestored(ILogger logger);
}
