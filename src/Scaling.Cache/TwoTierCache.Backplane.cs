namespace Scaling.Cache;

public sealed partial class TwoTierCache
{
    /// <summary>On a Redis Cluster, how long a skipped sequence number may take to arrive before it counts as a gap.</summary>
    private static readonly TimeSpan ClusterReorderGrace = TimeSpan.FromSeconds(1);

    private readonly PublisherSequences _sequences = new();
    private int _subscriptions;
    private int _gapCheckRunning;

    /// <summary>
    /// Writes a value or a tombstone to L2 and announces the key on the backplane (one script call, in
    /// <see cref="RedisTier"/>). When Redis is unavailable the key is remembered for replay.
    /// </summary>
    private async Task WriteAndAnnounceAsync(string operation, string key, byte[] payload, TimeSpan ttl, CancellationToken cancellationToken)
    {
        if (!await _redis.SetAndAnnounceAsync(operation, key, payload, ttl, cancellationToken).ConfigureAwait(false))
        {
            _pending.AddKey(key);
        }
    }

    /// <summary>Increments the tag's version in Redis and announces it; false when Redis was unavailable.</summary>
    private async Task<bool> InvalidateTagAsync(string tag, CancellationToken cancellationToken)
    {
        if (await _redis.InvalidateTagAsync("remove by tag", tag, _tags.Current(tag) + 1, cancellationToken).ConfigureAwait(false) is not { } version)
        {
            return false;
        }

        _tags.Advance(tag, version);
        InvalidateAllFlights();
        return true;
    }

    private void OnMessage(string? raw)
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

        if (message.Kind == BackplaneMessage.Echo)
        {
            return; // other instances' echoes to themselves (RedisTier drops this instance's own messages undecoded)
        }

        _instruments.BackplaneMessages.Add(1, new KeyValuePair<string, object?>("direction", "received"));
        // Messages are handled one at a time, in the order Redis delivered them (an ordered subscription); on a cluster
        // that is not the order they were sent in (see PublisherSequences).
        var (outOfOrder, gap, awaiting) = _sequences.Observe(
            message.Publisher, message.Sequence, Environment.TickCount64, _redis.IsCluster ? ClusterReorderGrace : TimeSpan.Zero);
        if (outOfOrder)
        {
            _instruments.OutOfOrder.Add(1); // applied all the same: an invalidation is never harmful
        }

        if (gap)
        {
            Flush("gap", missedInvalidations: true);
        }
        else if (awaiting && Interlocked.CompareExchange(ref _gapCheckRunning, 1, 0) == 0)
        {
            _ = ExpireMissingAsync();
        }

        switch (message.Kind)
        {
            case BackplaneMessage.KeyChanged:
                InvalidateFlight(message.Argument);
                _local.Remove(message.Argument);
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
            _local.Clear();
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
            foreach (var (tag, version) in versions)
            {
                _tags.Advance(tag, version);
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

        if (overflowed && !await _redis.AnnounceFlushAsync("replay flush").ConfigureAwait(false))
        {
            _pending.MarkOverflowed();
        }

        CacheLog.Recovered(_logger, keys.Count, tags.Count);
    }

    /// <summary>
    /// While skipped sequence numbers are awaited (on a cluster), checks them every half grace period and flushes L1 once
    /// one has not arrived within the grace.
    /// </summary>
    private async Task ExpireMissingAsync()
    {
        try
        {
            var grace = ClusterReorderGrace;
            while (Volatile.Read(ref _disposed) == 0 && _sequences.HasMissing)
            {
                await Task.Delay(grace / 2).ConfigureAwait(false);
                if (_sequences.ExpireMissing(Environment.TickCount64 - (long)grace.TotalMilliseconds))
                {
                    Flush("gap", missedInvalidations: true);
                }
            }
        }
        finally
        {
            Volatile.Write(ref _gapCheckRunning, 0);
        }

        if (Volatile.Read(ref _disposed) == 0 && _sequences.HasMissing && Interlocked.CompareExchange(ref _gapCheckRunning, 1, 0) == 0)
        {
            _ = ExpireMissingAsync(); // a number skipped while this loop was ending
        }
    }

    private void Flush(string reason, bool missedInvalidations)
    {
        _sequences.ForgetMissing();
        _local.Clear();
        InvalidateAllFlights();
        if (missedInvalidations)
        {
            _instruments.Flushes.Add(1, new KeyValuePair<string, object?>("reason", reason));
        }

        CacheLog.Flushed(_logger, reason);
    }
}
