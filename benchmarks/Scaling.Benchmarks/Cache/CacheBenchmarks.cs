using System.ComponentModel;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Scaling.Cache;
using Scaling.Testing;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;

namespace Scaling.Benchmarks.Cache;

/// <summary>
/// The two tiers against their baselines and the peers (FusionCache, Microsoft's HybridCache; set up by
/// <see cref="PeerCaches"/> as their docs show, on the same Redis, with the same <see cref="Booking"/> value), in the same
/// run.
/// <list type="bullet">
/// <item><b>L1 hit</b>, against <see cref="MemoryCache.TryGetValue"/>: ours, FusionCache's <c>GetOrSet</c> and
/// <c>GetOrSetAsync</c>, HybridCache's <c>GetOrCreateAsync</c>. Goal: ours ≤ the fastest peer, 0 bytes allocated.
/// <see cref="Booking"/> is marked <c>[ImmutableObject(true)]</c> (it is an immutable record), which is what HybridCache's
/// docs ask for before it hands out the cached instance instead of deserializing a copy on every hit; ours and
/// FusionCache return the cached instance either way.</item>
/// <item><b>L2 hit</b> (L1 bypassed), against a raw StackExchange.Redis <c>StringGetAsync</c> plus System.Text.Json
/// deserialization of the same value. Each cache is told per call to neither read nor write its L1, so every call
/// is one Redis read and one deserialization: ours and HybridCache with <see cref="HybridCacheEntryFlags.DisableLocalCache"/>
/// (<c>DisableLocalCacheRead | DisableLocalCacheWrite</c>), FusionCache with the entry options
/// <c>SkipMemoryCacheRead</c> and <c>SkipMemoryCacheWrite</c>. Each reads its own envelope (ours: a string; FusionCache
/// and HybridCache: Microsoft.Extensions.Caching.StackExchangeRedis's hash, read with one <c>HMGET</c>). Goal: ours
/// within 5 % of the raw read.</item>
/// </list>
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkDotNet.Configs.BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class CacheBenchmarks
{
    private static readonly Func<CancellationToken, ValueTask<Booking>> NeverCalled =
        static _ => throw new InvalidOperationException("the benchmark expects a hit");

    private static readonly HybridCacheEntryOptions L2Only = new()
    {
        Expiration = TimeSpan.FromHours(1),
        Flags = HybridCacheEntryFlags.DisableLocalCache,
    };

    private static readonly Func<FusionCacheFactoryExecutionContext<Booking>, CancellationToken, Booking> FusionNeverCalled =
        static (_, _) => throw new InvalidOperationException("the benchmark expects a hit");

    private static readonly Func<FusionCacheFactoryExecutionContext<Booking>, CancellationToken, Task<Booking>> FusionNeverCalledAsync =
        static (_, _) => throw new InvalidOperationException("the benchmark expects a hit");

    private static readonly FusionCacheEntryOptions FusionL2Only = new()
    {
        Duration = TimeSpan.FromHours(1),
        SkipMemoryCacheRead = true,
        SkipMemoryCacheWrite = true,
    };

    private readonly Booking _value = new(42, "Haircut", "Alex", new DateTime(2026, 11, 22, 10, 30, 0, DateTimeKind.Utc), 35.5m);
    private TestServers _servers = null!;
    private MemoryCache _memory = null!;
    private TwoTierCache _cache = null!;
    private ConnectionMultiplexer _raw = null!;
    private IDatabase _rawDb = null!;
    private PeerCaches _fusion = null!;
    private PeerCaches _hybrid = null!;
    private IFusionCache _fusionCache = null!;
    private HybridCache _hybridCache = null!;

    /// <summary>Starts Redis, fills both caches and warms the connections.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _servers = TestServers.StartAsync().GetAwaiter().GetResult();
        _memory = new MemoryCache(new MemoryCacheOptions { SizeLimit = 100_000 });
        _memory.Set("booking:42", _value, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = TimeSpan.FromHours(1) });
        _cache = new TwoTierCache(Options.Create(new ScalingCacheOptions { RedisConfiguration = _servers.Redis[0].EndPoint, KeyPrefix = "bench:" }));
        _raw = ConnectionMultiplexer.Connect(_servers.Redis[0].EndPoint);
        _rawDb = _raw.GetDatabase();
        _rawDb.StringSet("raw:booking:42", JsonSerializer.SerializeToUtf8Bytes(_value, JsonSerializerOptions.Web));
        while (!_cache.IsBackplaneConnected)
        {
            Thread.Sleep(10);
        }

        Thread.Sleep(100); // the start-up flush
        _cache.SetAsync("booking:42", _value, new HybridCacheEntryOptions { Expiration = TimeSpan.FromHours(1) }).AsTask().GetAwaiter().GetResult();
        _fusion = PeerCaches.FusionCache(_servers.Redis[0].EndPoint, "bench-fusion:", TimeSpan.FromHours(1));
        _fusionCache = _fusion.Fusion;
        _fusionCache.SetAsync("booking:42", _value).AsTask().GetAwaiter().GetResult();
        _hybrid = PeerCaches.HybridCache(_servers.Redis[0].EndPoint, "bench-hybrid:", TimeSpan.FromHours(1));
        _hybridCache = _hybrid.Hybrid;
        _hybridCache.SetAsync("booking:42", _value).AsTask().GetAwaiter().GetResult();
        for (var i = 0; i < 100; i++)
        {
            TwoTierCache_L2Hit().GetAwaiter().GetResult();
            Raw_StringGet_Deserialize().GetAwaiter().GetResult();
            FusionCache_L2Hit().GetAwaiter().GetResult();
            HybridCache_L2Hit().GetAwaiter().GetResult();
        }

        // Every L1 benchmark must really hit (their factories throw otherwise).
        _ = TwoTierCache_L1Hit() == _value && FusionCache_GetOrSet_L1Hit() == _value && FusionCache_GetOrSetAsync_L1Hit() == _value
            && HybridCache_L1Hit() == _value
            ? 0
            : throw new InvalidOperationException("an L1 hit did not return the cached instance");
    }

    /// <summary>Stops everything.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _cache.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _fusion.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _hybrid.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _memory.Dispose();
        _raw.Dispose();
        _servers.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>The baseline of an L1 hit: <see cref="MemoryCache.TryGetValue"/>.</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("L1")]
    public Booking? MemoryCache_TryGetValue() => _memory.TryGetValue("booking:42", out var value) ? (Booking?)value : null;

    /// <summary>An L1 hit of <see cref="TwoTierCache.GetOrCreateAsync{TState, T}"/> (completes synchronously).</summary>
    [Benchmark]
    [BenchmarkCategory("L1")]
    public Booking TwoTierCache_L1Hit()
    {
        var pending = _cache.GetOrCreateAsync("booking:42", NeverCalled);
        return pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>An L1 hit of FusionCache's synchronous <c>GetOrSet</c>.</summary>
    [Benchmark]
    [BenchmarkCategory("L1")]
    public Booking FusionCache_GetOrSet_L1Hit() => _fusionCache.GetOrSet<Booking>("booking:42", FusionNeverCalled);

    /// <summary>An L1 hit of FusionCache's <c>GetOrSetAsync</c>.</summary>
    [Benchmark]
    [BenchmarkCategory("L1")]
    public Booking FusionCache_GetOrSetAsync_L1Hit()
    {
        var pending = _fusionCache.GetOrSetAsync<Booking>("booking:42", FusionNeverCalledAsync);
        return pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>An L1 hit of Microsoft's HybridCache <c>GetOrCreateAsync</c> (the same overload as ours).</summary>
    [Benchmark]
    [BenchmarkCategory("L1")]
    public Booking HybridCache_L1Hit()
    {
        var pending = _hybridCache.GetOrCreateAsync("booking:42", NeverCalled);
        return pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>The baseline of an L2 hit: <c>GET</c> and deserialize.</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("L2")]
    public async Task<Booking> Raw_StringGet_Deserialize()
    {
        byte[] bytes = (await _rawDb.StringGetAsync("raw:booking:42"))!;
        return JsonSerializer.Deserialize<Booking>(bytes, JsonSerializerOptions.Web)!;
    }

    /// <summary>An L2 hit (L1 bypassed): single-flight, <c>GET</c>, envelope check, deserialize.</summary>
    [Benchmark]
    [BenchmarkCategory("L2")]
    public async Task<Booking> TwoTierCache_L2Hit() => await _cache.GetOrCreateAsync("booking:42", NeverCalled, L2Only);

    /// <summary>An L2 hit of FusionCache (L1 neither read nor written: <c>SkipMemoryCacheRead</c>, <c>SkipMemoryCacheWrite</c>).</summary>
    [Benchmark]
    [BenchmarkCategory("L2")]
    public async Task<Booking> FusionCache_L2Hit() => await _fusionCache.GetOrSetAsync<Booking>("booking:42", FusionNeverCalledAsync, options: FusionL2Only);

    /// <summary>An L2 hit of Microsoft's HybridCache (L1 neither read nor written: <see cref="HybridCacheEntryFlags.DisableLocalCache"/>).</summary>
    [Benchmark]
    [BenchmarkCategory("L2")]
    public async Task<Booking> HybridCache_L2Hit() => await _hybridCache.GetOrCreateAsync("booking:42", NeverCalled, L2Only);

    /// <summary>
    /// A small cached record, like a booking summary. Immutable, and marked so: Microsoft's HybridCache then reuses
    /// the cached instance (as ours and FusionCache do) instead of deserializing a copy on every L1 hit.
    /// </summary>
    [ImmutableObject(true)]
    public sealed record Booking(int Id, string Service, string Staff, DateTime StartsAt, decimal Price);
}
