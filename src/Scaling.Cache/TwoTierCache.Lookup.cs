using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Caching.Hybrid;

namespace Scaling.Cache;

public sealed partial class TwoTierCache
{
    /// <summary>
    /// An L1 miss: joins the key's running lookup or starts one. Not an <c>async</c> method: a caller whose wait nothing
    /// can end early (no cancellable token, no hard timeout) gets the lookup's own task, with no state machine of its
    /// own (1,000 concurrent callers of a missing key cost one lookup, not 1,000 more allocations). Failures before the
    /// wait are returned in the task, as an <c>async</c> method would.
    /// </summary>
    private ValueTask<T> GetOrCreateSlowAsync<TState, T>(
        string key,
        TState state,
        Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options,
        IEnumerable<string>? tags,
        CancellationToken cancellationToken)
    {
        Flight<T> flight;
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!IsUsableKey(key, "get_or_create"))
            {
                return RunWithoutCacheAsync(state, factory, options, cancellationToken);
            }

            var tagList = ValidateTags(key, tags);
            _instruments.Miss(local: true);
            flight = JoinOrStartFlight(key, state, factory, options, tagList);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<T>(cancellationToken);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException<T>(ex);
        }

        if (!cancellationToken.CanBeCanceled && _options.FactoryHardTimeout == Timeout.InfiniteTimeSpan)
        {
            return new ValueTask<T>(flight.Result);
        }

        return WaitForFlightAsync(key, flight, cancellationToken);
    }

    /// <summary>Joins the key's running lookup (single-flight), or starts one.</summary>
    private Flight<T> JoinOrStartFlight<TState, T>(
        string key,
        TState state,
        Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options,
        List<string>? tagList)
    {
        while (true)
        {
            if (_flights.TryGetValue(key, out var running))
            {
                if (running is Flight<T> shared && shared.TryJoin())
                {
                    return shared;
                }

                // A flight for another type, or one whose callers all gave up: this caller looks up on its own.
                var own = new Flight<T>(_disposing.Token);
                _ = RunFlightAsync(key, own, state, factory, options, tagList, refresh: null, registered: false);
                return own;
            }

            var created = new Flight<T>(_disposing.Token);
            if (_flights.TryAdd(key, created))
            {
                _ = RunFlightAsync(key, created, state, factory, options, tagList, refresh: null, registered: true);
                return created;
            }

            created.Dispose();
        }
    }

    /// <summary>A wait that the caller's token or the hard timeout may end before the lookup does.</summary>
    private async ValueTask<T> WaitForFlightAsync<T>(string key, Flight<T> flight, CancellationToken cancellationToken)
    {
        try
        {
            return await flight.WaitAsync(_options.FactoryHardTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (WaitTimeoutException)
        {
            throw new TimeoutException(string.Create(
                CultureInfo.InvariantCulture,
                $"The factory of cache key {DisplayText.Quote(key)} did not finish within ScalingCacheOptions.FactoryHardTimeout ({_options.FactoryHardTimeout.TotalMilliseconds:0} ms); it goes on in the background and its result will be cached."));
        }
    }

    /// <summary>
    /// The answer for a key the cache cannot use: the factory's result, neither read from nor written to either tier
    /// (or the default value when the call disables the underlying data), as Microsoft's <c>HybridCache</c> does.
    /// </summary>
    private async ValueTask<T> RunWithoutCacheAsync<TState, T>(
        TState state,
        Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options,
        CancellationToken cancellationToken)
    {
        if (((options?.Flags ?? HybridCacheEntryFlags.None) & HybridCacheEntryFlags.DisableUnderlyingData) != 0)
        {
            return default!;
        }

        try
        {
            var value = await factory(state, cancellationToken).ConfigureAwait(false);
            _instruments.FactoryCalls.Add(1, new KeyValuePair<string, object?>("outcome", "success"));
            return value;
        }
        catch
        {
            _instruments.FactoryCalls.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
            throw;
        }
    }

    private void StartEagerRefresh<TState, T>(
        string key,
        TState state,
        Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options,
        IEnumerable<string>? tags,
        LocalEntry<T> current)
    {
        var flight = new Flight<T>(_disposing.Token);
        if (!_flights.TryAdd(key, flight))
        {
            flight.Dispose();
            return;
        }

        _ = RunFlightAsync(key, flight, state, factory, options, ValidateTags(key, tags), refresh: current, registered: true);
    }

    /// <summary>
    /// One lookup: L1 again (another flight may have filled it), L2, then the factory with its timeouts and
    /// fail-safe. Completes the flight as soon as there is an answer; a factory that outlives its timeout
    /// finishes in the background and its result is cached. Never throws.
    /// </summary>
    private async Task RunFlightAsync<TState, T>(
        string key,
        Flight<T> flight,
        TState state,
        Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options,
        List<string>? tagList,
        LocalEntry<T>? refresh,
        bool registered)
    {
        try
        {
            var flags = options?.Flags ?? HybridCacheEntryFlags.None;
            Stale<T>? stale = refresh is null ? null : new Stale<T>(refresh.Value, 0, Local: true);
            var startedUnix = _time.GetUtcNow().ToUnixTimeMilliseconds();
            var stamps = _tags.Stamp(tagList); // before anything is read: an invalidation from now on outdates the result
            if (refresh is null)
            {
                if ((flags & HybridCacheEntryFlags.DisableLocalCacheRead) == 0
                    && _local.TryGet(key, out var found)
                    && found is LocalEntry<T> entry
                    && _tags.AreCurrent(entry.Tags))
                {
                    var now = Environment.TickCount64;
                    if (now < entry.ExpiresAt)
                    {
                        flight.Complete(entry.Value);
                        return;
                    }

                    if (_options.EnableFailSafe && now < entry.StaleUntil)
                    {
                        stale = new Stale<T>(entry.Value, now - entry.ExpiresAt, Local: true);
                    }
                }

                if ((flags & HybridCacheEntryFlags.DisableDistributedCacheRead) == 0)
                {
                    DistributedRead<T> read;
                    using (var l2 = CacheActivities.StartL2Get(key))
                    {
                        try
                        {
                            read = await ReadDistributedAsync<T>(key, flight.FactoryToken).ConfigureAwait(false);
                        }
                        catch (Exception ex) when (ActivityErrors.Record(l2, ex))
                        {
                            throw;
                        }

                        if (l2 is not null)
                        {
                            var fresh = read.Found && read.FreshFor > TimeSpan.Zero;
                            CacheActivities.L2Answered(l2, fresh, expired: read.Found && !fresh, _redis.IsAvailable);
                        }
                    }

                    if (read.Found && read.FreshFor > TimeSpan.Zero)
                    {
                        _instruments.Hit(local: false);
                        if (!flight.Invalidated && (flags & HybridCacheEntryFlags.DisableLocalCacheWrite) == 0)
                        {
                            var local = Lifetimes(options).Local;
                            StoreLocal(key, read.Value!, read.FreshFor < local ? read.FreshFor : local, read.Tags);
                        }

                        flight.Complete(read.Value!);
                        return;
                    }

                    _instruments.Miss(local: false);
                    if (read.Found && stale is null && _options.EnableFailSafe && -read.FreshFor < _options.FailSafeMaxDuration)
                    {
                        stale = new Stale<T>(read.Value!, (long)(-read.FreshFor).TotalMilliseconds, Local: false);
                    }
                }

                if ((flags & HybridCacheEntryFlags.DisableUnderlyingData) != 0)
                {
                    flight.Complete(default!);
                    return;
                }
            }

            using var factorySpan = CacheActivities.StartFactory(key, eagerRefresh: refresh is not null);
            var produce = ProduceAsync(key, flight, state, factory, options, stamps, startedUnix, factorySpan);
            // With a stale value to fall back on, callers wait for the factory at most the soft (or hard) timeout;
            // without one, each caller's wait is bounded by the hard timeout (see GetOrCreateSlowAsync).
            var timeout = Shorter(_options.FactorySoftTimeout, _options.FactoryHardTimeout);
            if (stale is not null && timeout != Timeout.InfiniteTimeSpan && !produce.IsCompleted)
            {
                var finished = await Task.WhenAny(produce, Task.Delay(timeout, flight.FactoryToken)).ConfigureAwait(false);
                if (finished != produce)
                {
                    CacheLog.SoftTimeout(_logger, DisplayText.Quote(key));
                    _instruments.StaleServed(stale.Local, "soft_timeout");
                    CacheActivities.StaleServed(factorySpan, "soft_timeout", stale.Local);
                    flight.Complete(stale.Value);
                }
            }

            try
            {
                flight.Complete(await produce.ConfigureAwait(false));
            }
            catch (Exception ex) when (stale is not null && !flight.HasResult && ex is not OperationCanceledException)
            {
                CacheLog.FailSafeServed(_logger, DisplayText.Quote(key), stale.ExpiredMilliseconds / 1000.0, ex);
                _instruments.StaleServed(stale.Local, "factory_failed");
                CacheActivities.StaleServed(factorySpan, "factory_failed", stale.Local);
                if (!flight.Invalidated)
                {
                    StoreLocal(key, stale.Value, _options.FailSafeThrottleDuration, stamps); // don't call a failing backend on every request
                }

                flight.Complete(stale.Value);
            }
            catch (Exception ex) when (flight.HasResult || refresh is not null)
            {
                CacheLog.BackgroundRefreshFailed(_logger, DisplayText.Quote(key), ex);
            }
        }
        catch (Exception ex)
        {
            flight.Fail(ex);
        }
        finally
        {
            if (registered)
            {
                _flights.TryRemove(new KeyValuePair<string, Flight>(key, flight));
            }

            flight.Dispose();
        }
    }

    /// <summary>
    /// Calls the factory and caches its result in both tiers (unless the key was invalidated meanwhile). A failure is
    /// recorded on <paramref name="span"/>, the factory's span (when it is listened to).
    /// </summary>
    private async Task<T> ProduceAsync<TState, T>(
        string key,
        Flight<T> flight,
        TState state,
        Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options,
        TagStamp[]? stamps,
        long startedUnix,
        Activity? span)
    {
        T value;
        try
        {
            value = await factory(state, flight.FactoryToken).ConfigureAwait(false);
            _instruments.FactoryCalls.Add(1, new KeyValuePair<string, object?>("outcome", "success"));
        }
        catch (Exception ex)
        {
            _instruments.FactoryCalls.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
            ActivityErrors.Record(span, ex);
            throw;
        }

        if (flight.Invalidated)
        {
            return value;
        }

        var flags = options?.Flags ?? HybridCacheEntryFlags.None;
        var (distributed, local) = Lifetimes(options);
        if ((flags & HybridCacheEntryFlags.DisableLocalCacheWrite) == 0)
        {
            StoreLocal(key, value, local, stamps);
        }

        if ((flags & HybridCacheEntryFlags.DisableDistributedCacheWrite) == 0)
        {
            byte[] payload;
            try
            {
                payload = Serialize(key, value, L2Envelope.FormatVersion, startedUnix + (long)distributed.TotalMilliseconds, startedUnix, stamps);
            }
            catch (CacheValueException ex)
            {
                CacheLog.NotDistributed(_logger, DisplayText.Quote(key), ex.Message);
                return value;
            }

            await _redis.SetIfNotNewerAsync(key, payload, distributed + FailSafeWindow, startedUnix).ConfigureAwait(false);
        }

        return value;
    }

    /// <summary>
    /// Reads and decodes an L2 entry. <see cref="DistributedRead{T}.FreshFor"/> is how long it stays fresh
    /// (negative: how long ago it expired). Unreadable entries are misses, logged; entries of an invalidated tag
    /// and tombstones are misses.
    /// </summary>
    private async Task<DistributedRead<T>> ReadDistributedAsync<T>(string key, CancellationToken cancellationToken)
    {
        if (await _redis.GetAsync(key, cancellationToken).ConfigureAwait(false) is not { } bytes)
        {
            return default;
        }

        if (!L2Envelope.TryRead(bytes, out var format, out var expires, out var tags, out var payload))
        {
            Corrupt(key, "not a Scaling.Cache entry (unknown format or truncated)");
            return default;
        }

        if (format == L2Envelope.TombstoneFormat || !_tags.AreCurrent(tags))
        {
            return default;
        }

        T result;
        try
        {
            result = Serializer<T>().Deserialize(new ReadOnlySequence<byte>(payload));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Corrupt(key, string.Create(CultureInfo.InvariantCulture, $"cannot be read as {typeof(T).Name}: {ex.Message}"));
            return default;
        }

        var freshFor = TimeSpan.FromMilliseconds(expires - _time.GetUtcNow().ToUnixTimeMilliseconds());
        return new DistributedRead<T>(true, result, freshFor, tags);
    }

    private void Corrupt(string key, string reason)
    {
        _instruments.Corrupt.Add(1);
        CacheLog.CorruptValue(_logger, DisplayText.Quote(key), reason);
    }

    private byte[] Serialize<T>(string key, T value, byte format, long expiresUnix, long createdUnix, TagStamp[]? stamps)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        L2Envelope.WriteHeader(buffer, format, expiresUnix, createdUnix, stamps);
        var header = buffer.WrittenCount;
        try
        {
            Serializer<T>().Serialize(value, buffer);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new CacheValueException(
                string.Create(CultureInfo.InvariantCulture, $"The value of cache key {DisplayText.Quote(key)} ({typeof(T).Name}) cannot be serialized: {ex.Message}"),
                key,
                ex);
        }

        var size = buffer.WrittenCount - header;
        if (size > _options.MaxPayloadBytes)
        {
            throw new CacheValueException(string.Create(
                CultureInfo.InvariantCulture,
                $"The value of cache key {DisplayText.Quote(key)} is {size} bytes serialized; ScalingCacheOptions.MaxPayloadBytes allows {_options.MaxPayloadBytes}."),
                key,
                innerException: null);
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] Tombstone(long createdUnix)
    {
        var buffer = new ArrayBufferWriter<byte>(L2Envelope.HeaderSize);
        L2Envelope.WriteHeader(buffer, L2Envelope.TombstoneFormat, 0, createdUnix, null);
        return buffer.WrittenSpan.ToArray();
    }

    private IHybridCacheSerializer<T> Serializer<T>() =>
        (IHybridCacheSerializer<T>)_serializers.GetOrAdd(typeof(T), static (_, factories) =>
        {
            foreach (var factory in factories)
            {
                if (factory.TryCreateSerializer<T>(out var serializer))
                {
                    return serializer;
                }
            }

            new JsonCacheSerializerFactory().TryCreateSerializer<T>(out var json);
            return json!;
        }, _serializerFactories);

    private static TimeSpan Shorter(TimeSpan a, TimeSpan b) =>
        a == Timeout.InfiniteTimeSpan ? b : b == Timeout.InfiniteTimeSpan || a < b ? a : b;

    private sealed record Stale<T>(T Value, long ExpiredMilliseconds, bool Local);

    private readonly record struct DistributedRead<T>(bool Found, T? Value, TimeSpan FreshFor, TagStamp[]? Tags);
}
