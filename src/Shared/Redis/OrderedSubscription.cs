using StackExchange.Redis;

// BookingHost links this file too; there it lives in its own namespace, so that no type of the host has the same
// documentation id as a package's internal one (ASP.NET Core's OpenAPI XML comment generator fails on such pairs).
#if BOOKINGHOST
namespace BookingHost.Infrastructure;
#else
namespace Scaling;
#endif

/// <summary>
/// A pub/sub subscription whose messages are handled one at a time, in the order Redis delivered them (a
/// <see cref="ChannelMessageQueue"/>: StackExchange.Redis 2.x and later run plain subscription handlers concurrently, so
/// their order is lost). The multiplexer subscribes again by itself after a reconnect; disposing unsubscribes this
/// queue only, leaving any other subscription of a shared multiplexer in place. Shared as source by the packages
/// that talk to Redis.
/// </summary>
internal sealed class OrderedSubscription : IAsyncDisposable
{
    private readonly ChannelMessageQueue _queue;

    private OrderedSubscription(ChannelMessageQueue queue) => _queue = queue;

    /// <summary>Subscribes to <paramref name="channel"/>; <paramref name="handle"/> gets each message in order and must not throw.</summary>
    /// <exception cref="RedisException">Redis refused or could not be reached.</exception>
    /// <exception cref="TimeoutException">The subscription was not confirmed within <paramref name="timeout"/>.</exception>
    internal static async Task<OrderedSubscription> SubscribeAsync(IConnectionMultiplexer connection, RedisChannel channel, Action<RedisValue> handle, TimeSpan timeout)
    {
        // A queue whose SUBSCRIBE fails stays registered in the multiplexer, unreachable, and would fill up once the
        // multiplexer subscribes again by itself. So the server subscription is made first with a placeholder handler,
        // which can be removed exactly when that fails; once it stands, registering the queue needs no round trip.
        var subscriber = connection.GetSubscriber();
        Action<RedisChannel, RedisValue> placeholder = static (_, _) => { };
        var subscribing = subscriber.SubscribeAsync(channel, placeholder);
        try
        {
            await subscribing.WaitAsync(timeout).ConfigureAwait(false);
            var queue = await subscriber.SubscribeAsync(channel).WaitAsync(timeout).ConfigureAwait(false);
            queue.OnMessage(message => handle(message.Message));
            return new OrderedSubscription(queue);
        }
        finally
        {
            // The queue (if it was registered) now keeps the server subscription; the placeholder goes in every case.
            _ = subscribing.ContinueWith(
                _ => subscriber.UnsubscribeAsync(channel, placeholder).ContinueWith(
                    static failed => failed.Exception?.Handle(static _ => true), // down again: the placeholder is gone from the multiplexer anyway
                    CancellationToken.None,
                    TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default),
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }

    /// <summary>Unsubscribes this queue (waiting at most 5 s; a Redis that is gone has nothing to unsubscribe).</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await _queue.UnsubscribeAsync().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // The connection is down or closed: the subscription went with it.
        }
    }
}
