namespace Scaling.Cache;

/// <summary>
/// The last sequence number seen from each backplane publisher, and the numbers still missing. On one Redis a publisher's
/// messages arrive in order, so a number skipped is a message lost: a gap at once. On a Redis Cluster they do not: a
/// publisher's writes run on the masters of their keys, and each master forwards its <c>PUBLISH</c> over the cluster bus
/// on its own, so messages from two masters overtake each other. There a skipped number is missing only if it has not
/// arrived within a grace period. Invalidations themselves may be applied in any order (dropping a key, raising
/// a tag's version to a maximum), so only the gap detection has to wait.
/// </summary>
internal sealed class PublisherSequences
{
    /// <summary>At most this many numbers are waited for per publisher; a larger jump is a gap at once.</summary>
    internal const int MaxMissing = 1024;

    private const int MaxPublishers = 1024;
    private readonly Dictionary<string, Publisher> _publishers = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>True while some skipped number is still awaited.</summary>
    internal bool HasMissing
    {
        get
        {
            lock (_gate)
            {
                foreach (var publisher in _publishers.Values)
                {
                    if (publisher.Missing is { Count: > 0 })
                    {
                        return true;
                    }
                }

                return false;
            }
        }
    }

    /// <summary>
    /// Records a message. The outcome says whether it came after a later one, whether it revealed a gap, and whether it
    /// left skipped numbers to wait for (only when <paramref name="reorderGrace"/> is above zero: how long a skipped number
    /// may take to arrive before it counts as lost).
    /// </summary>
    internal (bool OutOfOrder, bool Gap, bool Awaiting) Observe(string publisher, long sequence, long nowTicks, TimeSpan reorderGrace)
    {
        lock (_gate)
        {
            if (!_publishers.TryGetValue(publisher, out var state))
            {
                if (_publishers.Count >= MaxPublishers)
                {
                    _publishers.Clear(); // publishers come and go with instances; forgetting one costs one unchecked message
                }

                _publishers[publisher] = new Publisher { Last = sequence };
                return (false, false, false);
            }

            if (sequence <= state.Last)
            {
                state.Missing?.Remove(sequence); // an awaited number arrived: nothing was lost
                return (true, false, false);
            }

            var skipped = sequence - state.Last - 1;
            state.Last = sequence;
            if (skipped == 0)
            {
                return (false, false, false);
            }

            if (reorderGrace <= TimeSpan.Zero || skipped > MaxMissing || (state.Missing?.Count ?? 0) + skipped > MaxMissing)
            {
                return (false, true, false);
            }

            state.Missing ??= [];
            for (var missing = sequence - skipped; missing < sequence; missing++)
            {
                state.Missing[missing] = nowTicks;
            }

            return (false, false, true);
        }
    }

    /// <summary>Forgets every number awaited since before <paramref name="cutoffTicks"/>; true when there was one (a gap).</summary>
    internal bool ExpireMissing(long cutoffTicks)
    {
        var expired = false;
        lock (_gate)
        {
            foreach (var publisher in _publishers.Values)
            {
                if (publisher.Missing is not { Count: > 0 } missing)
                {
                    continue;
                }

                foreach (var (number, since) in missing)
                {
                    if (since <= cutoffTicks)
                    {
                        missing.Remove(number);
                        expired = true;
                    }
                }
            }
        }

        return expired;
    }

    /// <summary>Stops waiting for every skipped number: L1 was just flushed, so nothing they carried can be served.</summary>
    internal void ForgetMissing()
    {
        lock (_gate)
        {
            foreach (var publisher in _publishers.Values)
            {
                publisher.Missing?.Clear();
            }
        }
    }

    private sealed class Publisher
    {
        public long Last;
        public Dictionary<long, long>? Missing;
    }
}
