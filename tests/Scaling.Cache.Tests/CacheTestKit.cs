using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Scaling.Cache.Tests;

/// <summary>
/// Caches over the first test Redis (or over a Redis Cluster, when given its configuration), each test in its own key
/// space, with their own metrics and logs.
/// </summary>
internal sealed class CacheTestKit : IAsyncDisposable
{
    private readonly List<TwoTierCache> _caches = [];
    private readonly string _redis;
    private ConnectionMultiplexer? _raw;

    public CacheTestKit(Testing.TestServers servers, string test, string? redisConfiguration = null)
    {
        Servers = servers;
        Prefix = "t-" + test + "-" + Guid.NewGuid().ToString("N")[..8] + ":";
        _redis = redisConfiguration ?? servers.Redis[0].EndPoint;
    }

    public Testing.TestServers Servers { get; }

    /// <summary>The key prefix of this test's caches (so tests never see each other's keys or messages).</summary>
    public string Prefix { get; }

    public RecordingLoggerFactory Logs { get; } = new();

    /// <summary>A new cache instance (its own connection), as a separate application instance would have.</summary>
    public TwoTierCache Create(Action<ScalingCacheOptions>? configure = null, IEnumerable<IHybridCacheSerializerFactory>? serializers = null) =>
        Create(out _, configure, serializers);

    public TwoTierCache Create(out CacheMetrics metrics, Action<ScalingCacheOptions>? configure = null, IEnumerable<IHybridCacheSerializerFactory>? serializers = null)
    {
        var options = new ScalingCacheOptions
        {
            RedisConfiguration = _redis + ",connectTimeout=1000",
            KeyPrefix = Prefix,
            CircuitBreakDuration = TimeSpan.FromMilliseconds(500),
            DistributedCacheTimeout = TimeSpan.FromSeconds(2), // behaviour, not latency: a busy CI machine must not trip the breaker
        };
        configure?.Invoke(options);
        var meters = new TestMeterFactory();
        metrics = new CacheMetrics(meters);
        var cache = new TwoTierCache(Options.Create(options), serializers, Logs.CreateLogger<TwoTierCache>(), meters);
        _caches.Add(cache);
        return cache;
    }

    /// <summary>A cache whose backplane is subscribed (so no start-up flush can race the test).</summary>
    public async Task<TwoTierCache> CreateReadyAsync(Action<ScalingCacheOptions>? configure = null) =>
        await ReadyAsync(Create(configure));

    public static async Task<TwoTierCache> ReadyAsync(TwoTierCache cache)
    {
        await Testing.Eventually.TrueAsync(() => Task.FromResult(cache.IsBackplaneConnected), TimeSpan.FromSeconds(10), "the cache's backplane subscribed");
        await Task.Delay(50); // the start-up flush runs right after the subscription
        return cache;
    }

    /// <summary>A plain connection to the cache's Redis, to look at and tamper with its keys.</summary>
    public async Task<IDatabase> RawAsync()
    {
        _raw ??= await ConnectionMultiplexer.ConnectAsync(_redis + ",abortConnect=false,connectTimeout=2000,syncTimeout=2000");
        return _raw.GetDatabase();
    }

    public async Task PublishRawAsync(string message)
    {
        await RawAsync();
        await _raw!.GetSubscriber().PublishAsync(RedisChannel.Literal(Prefix + "backplane"), message);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var cache in _caches)
        {
            await cache.DisposeAsync();
        }

        if (_raw is not null)
        {
            await _raw.CloseAsync(false);
            _raw.Dispose();
        }
    }
}

/// <summary>A meter factory per cache, so each cache's measurements can be told apart.</summary>
internal sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(new MeterOptions(options.Name) { Version = options.Version, Tags = options.Tags, Scope = this });
        _meters.Add(meter);
        return meter;
    }

    public void Dispose()
    {
        foreach (var meter in _meters)
        {
            meter.Dispose();
        }
    }
}

/// <summary>Sums of one cache's counters, by instrument name and tag values (e.g. "scaling.cache.hits|tier=l1").</summary>
internal sealed class CacheMetrics : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _sums = new();

    public CacheMetrics(TestMeterFactory factory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Scope == factory)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            _sums.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value);
            foreach (var tag in tags)
            {
                _sums.AddOrUpdate($"{instrument.Name}|{tag.Key}={tag.Value}", value, (_, sum) => sum + value);
            }
        });
        _listener.Start();
    }

    public long this[string name] => _sums.TryGetValue(name, out var sum) ? sum : 0;

    public void Dispose() => _listener.Dispose();
}

/// <summary>Keeps warnings and errors of every cache the kit made.</summary>
internal sealed class RecordingLoggerFactory : ILoggerFactory, ILogger
{
    private readonly ConcurrentQueue<string> _entries = new();

    public IReadOnlyCollection<string> Entries => _entries;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            _entries.Enqueue($"{logLevel}: {formatter(state, exception)}");
        }
    }

    public void Dispose()
    {
    }
}

/// <summary>A factory that counts its calls.</summary>
internal sealed class CountingFactory<T>(Func<int, T> produce)
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public ValueTask<T> InvokeAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult(produce(Interlocked.Increment(ref _calls)));
}
