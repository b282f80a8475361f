using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Scaling.Cache;

/// <summary>
/// A <see cref="HybridCache"/> with two tiers: L1 in process memory (a size-limited dictionary of the values themselves)
/// in front of L2 in Redis, kept coherent across instances by a Redis pub/sub backplane.
/// </summary>
/// <remarks>
/// <para>
/// Lookups are single-flight per key and instance: concurrent callers of a missing key share one L2 read and
/// one factory call. With fail-safe on, a value that expired is kept (in both tiers) for
/// <see cref="ScalingCacheOptions.FailSafeMaxDuration"/> and served when the factory fails or exceeds its soft
/// timeout. When Redis fails, a circuit breaker skips it and the cache works from L1 and the factory, with no
/// exception reaching the caller; invalidations that could not reach Redis are replayed when it is back.
/// </para>
/// <para>
/// <see cref="SetAsync"/>, <see cref="RemoveAsync(string, CancellationToken)"/> and
/// <see cref="RemoveByTagAsync(string, CancellationToken)"/> write Redis and announce the change on the backplane
/// in one round trip; every other instance drops the key (or the tag's entries) from its L1. Messages carry a
/// per-publisher sequence number: a receiver that sees a gap, or whose subscription was reconnected, flushes
/// its whole L1 rather than serve what it may have missed. L1 freshness is capped by
/// <see cref="ScalingCacheOptions.MaxLocalExpiration"/> as a safety net.
/// </para>
/// <para>
/// L1 holds the value object itself (no copy per hit): do not mutate values you get from the cache.
/// </para>
/// </remarks>
public sealed partial class TwoTierCache : HybridCache, IAsyncDisposable, IDisposable
{
    private readonly ScalingCacheOptions _options;
    private readonly LocalTier _local;
    private readonly RedisTier _redis;
    private readonly TagVersions _tags = new();
    private readonly PendingInvalidations _pending = new();
    private readonly ConcurrentDictionary<string, Flight> _flights = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Type, object> _serializers = new();
    private readonly IHybridCacheSerializerFactory[] _serializerFactories;
    private readonly ILogger _logger;
    private readonly CacheInstruments _instruments;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _disposing = new();
    private int _disposed;

    /// <summary>Creates the cache and starts connecting to Redis in the background.</summary>
    /// <param name="options">The options, validated here by <see cref="ScalingCacheOptionsValidator"/>.</param>
    /// <param name="serializerFactories">
    /// Serializer factories, the last registered tried first; System.Text.Json (<see cref="JsonCacheSerializerFactory"/>)
    /// serves every type they decline.
    /// </param>
    /// <param name="logger">Where logs go; none when <see langword="null"/>.</param>
    /// <param name="meterFactory">Creates the <c>Scaling.Cache</c> meter; a standalone meter (disposed with the cache) when <see langword="null"/>.</param>
    /// <param name="timeProvider">The wall clock of L2 expiry times; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <exception cref="OptionsValidationException">The options are not valid; each failure names the option.</exception>
    public TwoTierCache(
        IOptions<ScalingCacheOptions> options,
        IEnumerable<IHybridCacheSerializerFactory>? serializerFactories = null,
        ILogger<TwoTierCache>? logger = null,
        IMeterFactory? meterFactory = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        var validation = new ScalingCacheOptionsValidator().Validate(Options.DefaultName, _options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(ScalingCacheOptions), validation.Failures);
        }

        _logger = logger ?? NullLogger<TwoTierCache>.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _serializerFactories = [.. (serializerFactories ?? []).Reverse()];
        _instruments = new CacheInstruments(meterFactory);
        _local = new LocalTier(_options.LocalCacheSizeLimit);
        _redis = new RedisTier(_options, InstanceId, _logger, _instruments, OnMessage, OnSubscribed, OnRedisRecovered);
        _redis.Start(); // after _redis is set: the subscription's callbacks use it
    }

    /// <summary>This instance's identity on the backplane (its messages carry it; it ignores its own).</summary>
    public string InstanceId { get; } = Guid.NewGuid().ToString("N");

    /// <summary>True while Redis is used: connected and the circuit breaker closed.</summary>
    public bool IsDistributedCacheAvailable => _redis.IsAvailable;

    /// <summary>True while the backplane subscription is in place and Redis available.</summary>
    public bool IsBackplaneConnected => _redis.IsSubscribed;

    /// <summary>The number of entries in L1 (fresh or kept for fail-safe).</summary>
    public long LocalEntryCount => _local.Count;

    /// <inheritdoc />
    public override ValueTask<T> GetOrCreateAsync<TState, T>(
        string key,
        TState state,
        Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options = null,
        IEnumerable<string>? tags = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(factory);
        var flags = options?.Flags ?? HybridCacheEntryFlags.None;
        if ((flags & HybridCacheEntryFlags.DisableLocalCacheRead) == 0
            && _local.TryGet(key, out var found)
            && found is LocalEntry<T> entry)
        {
            // The hit path: one dictionary lookup, one clock read, no allocation.
            var now = Environment.TickCount64;
            if (now < entry.ExpiresAt && (entry.Tags is null || _tags.AreCurrent(entry.Tags)))
            {
                entry.Touch(now);
                _instruments.Hit(local: true);
                if (now >= entry.RefreshAt && entry.TryStartRefresh())
                {
                    StartEagerRefresh(key, state, factory, options, tags, entry);
                }

                return new ValueTask<T>(entry.Value);
            }
        }

        return GetOrCreateSlowAsync(key, state, factory, options, tags, cancellationToken);
    }

    /// <inheritdoc />
    /// <exception cref="CacheValueException">The value cannot be serialized or is larger than <see cref="ScalingCacheOptions.MaxPayloadBytes"/>; nothing was changed.</exception>
    public override async ValueTask SetAsync<T>(
        string key,
        T value,
        HybridCacheEntryOptions? options = null,
        IEnumerable<string>? tags = null,
        CancellationToken cancellationToken = default)
    {
        if (!IsUsableKey(key, "set"))
        {
            return;
        }

        var tagList = ValidateTags(key, tags);
        cancellationToken.ThrowIfCancellationRequested();
        var flags = options?.Flags ?? HybridCacheEntryFlags.None;
        var stamps = _tags.Stamp(tagList);
        var (distributed, local) = Lifetimes(options);
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var payload = (flags & HybridCacheEntryFlags.DisableDistributedCacheWrite) == 0
            ? Serialize(key, value, L2Envelope.FormatVersion, now + (long)distributed.TotalMilliseconds, now, stamps)
            : null;

        InvalidateFlight(key);
        if ((flags & HybridCacheEntryFlags.DisableLocalCacheWrite) == 0)
        {
            StoreLocal(key, value, local, stamps);
        }
        else
        {
            _local.Remove(key);
        }

        payload ??= Tombstone(now);
        var ttl = payload.Length == L2Envelope.HeaderSize ? TombstoneLifetime : distributed + FailSafeWindow;
        await WriteAndAnnounceAsync("set", key, payload, ttl, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>With an invalid key this does nothing (no entry can have that key), unless <see cref="ScalingCacheOptions.ThrowOnInvalidKey"/> asks for an exception.</remarks>
    public override async ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default)
    {
        if (!IsUsableKey(key, "remove"))
        {
            return;
        }

        cancellationToken.ThrowIfCancellationRequested();
        InvalidateFlight(key);
        _local.Remove(key);
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        await WriteAndAnnounceAsync("remove", key, Tombstone(now), TombstoneLifetime, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>
    /// O(1) whatever the number of entries: the tag's version is incremented in Redis and announced; every entry
    /// stamped with an older version is a miss from then on, in both tiers and on every instance. While Redis
    /// is unavailable the tag's version is advanced on this instance only (its entries are misses here, the rest of
    /// L1 stays), and the invalidation is replayed when Redis is back.
    /// An invalid tag does nothing (no entry can carry it), unless <see cref="ScalingCacheOptions.ThrowOnInvalidKey"/>
    /// asks for an exception.
    /// </remarks>
    public override async ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tag);
        if (CacheKeyValidator.TryFindProblem(tag, _options.MaxKeyLength, out var reason, out var problem))
        {
            if (_options.ThrowOnInvalidKey)
            {
                ValidateTag(tag);
            }

            _instruments.InvalidKey("remove_by_tag", reason);
            CacheLog.InvalidTag(_logger, DisplayText.Quote(tag), reason, problem, "RemoveByTagAsync");
            return;
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (!await InvalidateTagAsync(tag, cancellationToken).ConfigureAwait(false))
        {
            // Only this tag's entries go, here; not the whole L1. (Flushing it on every tag invalidation of an outage, one
            // per booking in the sample host, turned a slow Redis into a cold cache and the database's load.)
            _pending.AddTag(tag);
            _tags.AdvanceLocally(tag);
            InvalidateAllFlights();
        }
    }

    /// <summary>Drops every entry of a tenant (every key made by <see cref="TenantCacheKeys.Key"/>) on every instance.</summary>
    /// <param name="tenantId">The tenant identifier.</param>
    /// <param name="cancellationToken">Cancels the wait (the invalidation may still happen).</param>
    /// <exception cref="ArgumentException"><paramref name="tenantId"/> is not a valid tenant identifier.</exception>
    public ValueTask RemoveTenantAsync(string tenantId, CancellationToken cancellationToken = default) =>
        RemoveByTagAsync(TenantCacheKeys.Tag(tenantId), cancellationToken);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _disposing.CancelAsync().ConfigureAwait(false);
        await _redis.DisposeAsync().ConfigureAwait(false);
        _local.Clear();
        _instruments.Dispose();
        _disposing.Dispose();
    }

    /// <inheritdoc />
    /// <remarks>Prefer <see cref="DisposeAsync"/>; this closes the Redis connection without waiting for it.</remarks>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _disposing.Cancel();
        _redis.Dispose();
        _local.Clear();
        _instruments.Dispose();
        _disposing.Dispose();
    }

    private static readonly TimeSpan TombstoneLifetime = TimeSpan.FromSeconds(30);

    private TimeSpan FailSafeWindow => _options.EnableFailSafe ? _options.FailSafeMaxDuration : TimeSpan.Zero;

    /// <summary>
    /// True when <paramref name="key"/> may be cached. An invalid key throws the validator's
    /// <see cref="ArgumentException"/> when <see cref="ScalingCacheOptions.ThrowOnInvalidKey"/> is set; otherwise it is
    /// counted and logged, and false tells the caller to bypass the cache (as Microsoft's <c>HybridCache</c> does).
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    private bool IsUsableKey(string key, string operation)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!CacheKeyValidator.TryFindProblem(key, _options.MaxKeyLength, out var reason, out var problem))
        {
            return true;
        }

        if (_options.ThrowOnInvalidKey)
        {
            throw new ArgumentException(problem, nameof(key));
        }

        _instruments.InvalidKey(operation, reason);
        CacheLog.InvalidKey(_logger, DisplayText.Quote(key), reason, problem, operation);
        return false;
    }

    private void ValidateTag(string tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        if (!CacheKeyValidator.IsValid(tag, _options.MaxKeyLength))
        {
            try
            {
                CacheKeyValidator.Validate(tag, _options.MaxKeyLength);
            }
            catch (ArgumentException ex)
            {
                throw new ArgumentException(ex.Message.Replace("cache key", "cache tag", StringComparison.Ordinal), nameof(tag));
            }
        }
    }

    /// <summary>The distinct tags of an entry, plus its tenant's tag for a tenant-scoped key; null when none.</summary>
    private List<string>? ValidateTags(string key, IEnumerable<string>? tags)
    {
        List<string>? list = null;
        if (tags is not null)
        {
            foreach (var tag in tags)
            {
                ValidateTag(tag);
                list ??= [];
                if (!list.Contains(tag))
                {
                    list.Add(tag);
                }
            }
        }

        if (TenantCacheKeys.TagOf(key) is { } tenantTag && (list is null || !list.Contains(tenantTag)))
        {
            (list ??= []).Add(tenantTag);
        }

        if (list is { Count: > L2Envelope.MaxTags })
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"An entry may have at most {L2Envelope.MaxTags} tags; cache key {DisplayText.Quote(key)} has {list.Count}."),
                nameof(tags));
        }

        return list;
    }

    /// <summary>The L2 and L1 freshness of a new entry, both lengthened by the same random jitter.</summary>
    private (TimeSpan Distributed, TimeSpan Local) Lifetimes(HybridCacheEntryOptions? options)
    {
        var expiration = options?.Expiration ?? _options.DefaultExpiration;
        var local = options?.LocalCacheExpiration ?? expiration;
        if (local > expiration)
        {
            local = expiration;
        }

        if (local > _options.MaxLocalExpiration)
        {
            local = _options.MaxLocalExpiration;
        }

        var jitter = 1 + (Random.Shared.NextDouble() * _options.ExpirationJitter);
        return (expiration * jitter, local * jitter);
    }

    private void StoreLocal<T>(string key, T value, TimeSpan fresh, TagStamp[]? stamps)
    {
        var now = Environment.TickCount64;
        var freshMilliseconds = Math.Max(1, (long)fresh.TotalMilliseconds);
        var expiresAt = now + freshMilliseconds;
        var refreshAt = _options.EagerRefreshThreshold is { } threshold
            ? now + (long)(freshMilliseconds * threshold)
            : long.MaxValue;
        var staleUntil = now + (long)(fresh + FailSafeWindow).TotalMilliseconds;
        _local.Set(key, new LocalEntry<T>(value, expiresAt, refreshAt, staleUntil, stamps));
    }

    private void InvalidateFlight(string key)
    {
        if (_flights.TryRemove(key, out var flight))
        {
            flight.Invalidate();
        }
    }

    private void InvalidateAllFlights()
    {
        foreach (var pair in _flights)
        {
            if (_flights.TryRemove(pair))
            {
                pair.Value.Invalidate();
            }
        }
    }
}
