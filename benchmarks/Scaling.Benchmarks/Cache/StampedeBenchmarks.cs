using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;
using Scaling.Cache;
using Scaling.Testing;
using ZiggyCreatures.Caching.Fusion;
using Booking = Scaling.Benchmarks.Cache.CacheBenchmarks.Booking;

namespace Scaling.Benchmarks.Cache;

/// <summary>
/// A cache stampede: 1,000 concurrent <c>GetOrCreate</c> calls (each started on the thread pool) on one key that is in
/// neither tier, whose factory takes 10 ms. One operation is one stampede; each uses a fresh key, so every one is a
/// real miss in L1 and in Redis. Ours, FusionCache and Microsoft's HybridCache (set up by <see cref="PeerCaches"/>),
/// against the ideal: the same 1,000 callers awaiting one shared 10 ms task. The "Factory calls / stampede" column
/// (<see cref="FactoryCallsColumn"/>) counts the factory's calls: 1 means the stampede was fully collapsed.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Columns))]
public class StampedeBenchmarks
{
    private const int Callers = 1000;
    private static readonly TimeSpan FactoryDelay = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(2);

    private readonly Booking _value = new(42, "Haircut", "Alex", new DateTime(2026, 11, 22, 10, 30, 0, DateTimeKind.Utc), 35.5m);
    private readonly string _run = Guid.NewGuid().ToString("N")[..8];
    private readonly HybridCacheEntryOptions _hybridOptions = new() { Expiration = Lifetime, LocalCacheExpiration = Lifetime };
    private TestServers _servers = null!;
    private TwoTierCache _cache = null!;
    private PeerCaches _fusion = null!;
    private PeerCaches _hybrid = null!;
    private IFusionCache _fusionCache = null!;
    private HybridCache _hybridCache = null!;
    private long _keys;
    private long _calls;
    private long _stampedes;
    private long _totalCalls;
    private long _maxCalls;
    private string _method = "";

    /// <summary>Starts Redis and the three caches.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _servers = TestServers.StartAsync().GetAwaiter().GetResult();
        var redis = _servers.Redis[0].EndPoint;
        _cache = new TwoTierCache(Options.Create(new ScalingCacheOptions { RedisConfiguration = redis, KeyPrefix = "stampede-ours:" }));
        while (!_cache.IsBackplaneConnected)
        {
            Thread.Sleep(10);
        }

        Thread.Sleep(100); // the start-up flush
        _fusion = PeerCaches.FusionCache(redis, "stampede-fusion:", Lifetime);
        _fusionCache = _fusion.Fusion;
        _hybrid = PeerCaches.HybridCache(redis, "stampede-hybrid:", Lifetime);
        _hybridCache = _hybrid.Hybrid;
    }

    /// <summary>Writes the factory-call count and stops everything.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        if (_method.Length > 0)
        {
            FactoryCallsColumn.Record(_method, _stampedes, _totalCalls, _maxCalls);
        }

        _cache.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _fusion.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _hybrid.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _servers.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>The ideal: 1,000 callers share one 10 ms factory call.</summary>
    [Benchmark(Baseline = true)]
    public Task Ideal_OneSharedFactoryCall()
    {
        Task<Booking>? shared = null;
        var gate = new Lock();
        return StampedeAsync(nameof(Ideal_OneSharedFactoryCall), _ =>
        {
            lock (gate)
            {
                return shared ??= ProduceAsync();
            }
        });
    }

    /// <summary>Ours: <see cref="TwoTierCache.GetOrCreateAsync{TState, T}"/>.</summary>
    [Benchmark]
    public Task TwoTierCache_Stampede() => StampedeAsync(
        nameof(TwoTierCache_Stampede),
        key => _cache.GetOrCreateAsync(key, this, static (self, _) => new ValueTask<Booking>(self.ProduceAsync()), _hybridOptions).AsTask());

    /// <summary>FusionCache: <c>GetOrSetAsync</c>.</summary>
    [Benchmark]
    public Task FusionCache_Stampede() => StampedeAsync(
        nameof(FusionCache_Stampede),
        key => _fusionCache.GetOrSetAsync<Booking>(key, (_, _) => ProduceAsync()).AsTask());

    /// <summary>Microsoft's HybridCache: <c>GetOrCreateAsync</c>.</summary>
    [Benchmark]
    public Task HybridCache_Stampede() => StampedeAsync(
        nameof(HybridCache_Stampede),
        key => _hybridCache.GetOrCreateAsync(key, this, static (self, _) => new ValueTask<Booking>(self.ProduceAsync()), _hybridOptions).AsTask());

    private async Task<Booking> ProduceAsync()
    {
        Interlocked.Increment(ref _calls);
        await Task.Delay(FactoryDelay);
        return _value;
    }

    private async Task StampedeAsync(string method, Func<string, Task<Booking>> call)
    {
        _method = method;
        var key = "booking:" + _run + ":" + Interlocked.Increment(ref _keys);
        var before = Interlocked.Read(ref _calls);
        var callers = new Task<Booking>[Callers];
        for (var i = 0; i < Callers; i++)
        {
            callers[i] = Task.Run(() => call(key));
        }

        foreach (var booking in await Task.WhenAll(callers))
        {
            if (booking.Id != _value.Id)
            {
                throw new InvalidOperationException("a caller got another value");
            }
        }

        var calls = Interlocked.Read(ref _calls) - before;
        _stampedes++;
        _totalCalls += calls;
        _maxCalls = Math.Max(_maxCalls, calls);
    }

    /// <summary>Adds the factory-call column.</summary>
    private sealed class Columns : ManualConfig
    {
        public Columns() => AddColumn(new FactoryCallsColumn());
    }
}
