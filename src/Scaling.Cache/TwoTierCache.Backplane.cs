using System.Collections.Concurrent;
using StackExchange.Redis;

namespace Scaling.Cache;

public sealed partial class TwoTierCache
{
    private readonly ConcurrentDictionary<string, long> _publishers = new(StringComparer.Ordinal);
    private readonly Lock _publishGate = new();
    private long _sequence;
    private int _subscriptions;

    /// <summary>
    /// Writes a value or a tombstone to L2 and announces the key on the backplane, in one script call. When
    /// Redis is unavailable the key is remembered for replay and the sequence number is spent anyway, so
    /// receivers will see the gap.
    /// </summary>
    private async Task WriteAndAnnounceAsync(string operation, string key, byte[] payload, TimeSpan ttl, CancellationToken cancellationToken)
    {
        if (!await AnnounceAsync(
                operation,
                (database, header) => database.ScriptEvaluateAsync(
                    RedisTier.SetAndPublishScript,
                    [_redis.EntryKey(key)],
                    [payload, Milliseconds(ttl), (RedisValue)_redis.Channel.ToString(), header + BackplaneMessage.KeyChanged + "|" + key, _redis.Deadline()]),
                cancellationToken).ConfigureAwait(false))
        {
            _pending.AddKey(key);
        }
    }

    /// <summary>Increments the tag's version in Redis and announces it; false when Redis was unavailable.</summary>
    private async Task<bool> InvalidateTagAsync(string tag, CancellationToken cancellationToken)
    {
        long version = 0;
        var ok = await AnnounceAsync(
            "remove by tag",
            async (database, header) => version = (long)await database.ScriptEvaluateAsync(
                RedisTier.InvalidateTagScript,
                [_redis.TagVersionsKey],
                [tag, (RedisValue)_redis.Channel.ToString(), header + BackplaneMessage.TagInvalidated + "|", _redis.Deadline()]).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        if (ok)
        {
            _tags.Advance(tag, version);
            InvalidateAllFlights();
        }

        return ok;
    }

    /// <summary>
    /// Runs one announcing script with the next sequence number. Numbers are taken and commands queued under
    /// one lock, so they leave in order and receivers see no false gaps.
    /// </summary>
    private async Task<bool> AnnounceAsync(string operation, Func<IDatabase, string, Task> send, CancellationToken cancellationToken)
    {
        var database = await _redis.BeginAsync(operation, cancellationToken).ConfigureAwait(false);
        if (database is null)
        {
            Interlocked.Increment(ref _sequence);
            return false;
        }

        Task sending;
        lock (_publishGate)
        {
            var sequence = Interlocked.Increment(ref _sequence);
            sending = send(database, BackplaneMessage.Header(InstanceId, sequence));
        }

        var (ok, _) = await _redis.CompleteAsync(AsObjectTask(sending), operation, cancellationToken).ConfigureAwait(false);
        if (ok)
        {
            _instruments.BackplaneMessages.Add(1, new KeyValuePair<string, object?>("direction", "sent"));
        }

        return ok;
    }

    private static async Task<object?> AsObjectTask(Task task)
    {
        await task.ConfigureAwait(false);
        return null;
    }

    private void OnMessage(RedisValue raw)
    {
        if (Volatile.Read(ref _disposed) == 1)
        {
            return;
        }

        if (!BackplaneMessage.TryParse(raw, out var message))
        {
            CacheLog.MalformedMessage(_logger);
            return;
        }

        if (message.Publisher == InstanceId)
        {
            return;
        }

        _instruments.BackplaneMessages.Add(1, new KeyValuePair<string, object?>("direction", "received"));
        if (_publishers.Count > 1024)
        {
            _publishers.Clear(); // publishers come and go with instances; forgetting one costs one unchecked message
        }

        // Messages are handled one at a time, in the order Redis delivered them (an ordered subscription).
        var known = _publishers.TryGetValue(message.Publisher, out var last);
        var gap = known && message.Sequence > last + 1;
        if (!known || message.Sequence > last)
        {
            _publishers[message.Publisher] = message.Sequence;
        }
        else
        {
            _instruments.OutOfOrder.Add(1); // applied all the same: an invalidation is never harmful
        }

        if (gap)
        {
            Flush("gap", missedInvalidations: true);
        }

        switch (message.Kind)
        {
            case BackplaneMessage.KeyChanged:
                InvalidateFlight(message.Argument);
                _memory.Remove(message.Argument);
                break;
            case BackplaneMessage.TagInvalidated when message.TryGetTag(out var tag, out var version):
                _tags.Advance(tag, version);
                InvalidateAllFlights();
                break;
            case BackplaneMessage.FlushAll:
                Flush("flush requested", missedInvalidations: false);
                break;
            default:
                CacheLog.MalformedMessage(_logger);
                break;
        }
    }

    /// <summary>
    /// The subscription is (again) in place: whatever was published while it was not is lost, so L1 is
    /// flushed, tag versions are reloaded and pending invalidations replayed.
    /// </summary>
    private void OnSubscribed()
    {
        if (Volatile.Read(ref _disposed) == 1)
        {
            return;
        }

        var first = Interlocked.Increment(ref _subscriptions) == 1;
        if (first)
        {
            _memory.Clear();
            InvalidateAllFlights();
        }
        else
        {
            Flush("reconnect", missedInvalidations: true);
        }

        _ = ResyncAsync();
    }

    private void OnRedisRecovered() => _ = ReplayPendingAsync();

    private async Task ResyncAsync()
    {
        var versions = await _redis.LoadTagVersionsAsync().ConfigureAwait(false);
        if (versions is not null)
        {
            foreach (var entry in versions)
            {
                if (entry.Value.TryParse(out long version))
                {
                    _tags.Advance(entry.Name!, version);
                }
            }
        }

        await ReplayPendingAsync().ConfigureAwait(false);
    }

    private async Task ReplayPendingAsync()
    {
        if (_pending.IsEmpty || Volatile.Read(ref _disposed) == 1)
        {
            return;
        }

        var (keys, tags, overflowed) = _pending.Take();
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var key in keys)
        {
            await WriteAndAnnounceAsync("replay remove", key, Tombstone(now), TombstoneLifetime, CancellationToken.None).ConfigureAwait(false);
        }

        foreach (var tag in tags)
        {
            if (!await InvalidateTagAsync(tag, CancellationToken.None).ConfigureAwait(false))
            {
                _pending.AddTag(tag);
            }
        }

        if (overflowed && !await AnnounceAsync(
                "replay flush",
                (database, header) => database.PublishAsync(_redis.Channel, header + BackplaneMessage.FlushAll + "|"),
                CancellationToken.None).ConfigureAwait(false))
        {
            _pending.MarkOverflowed();
        }

        CacheLog.Recovered(_logger, keys.Count, tags.Count);
    }

    private void Flush(string reason, bool missedInvalidations)
    {
        _memory.Clear();
        InvalidateAllFlights();
        if (missedInvalidations)
        {
            _instruments.Flushes.Add(1, new KeyValuePair<string, object?>("reason", reason));
        }

        CacheLog.Flushed(_logger, reason);
    }
}
