using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Scaling.Cache;
using Scaling.Testing;
using StackExchange.Redis;

namespace Scaling.Benchmarks.Cache;

/// <summary>
/// The two tiers against their baselines, in the same run: an L1 hit against <see cref="MemoryCache.TryGetValue"/>
/// (goal ≤ 1.3×, 0 bytes allocated), and an L2 hit (L1 bypassed) against a raw StackExchange.Redis
/// <c>StringGetAsync</c> plus System.Text.Json deserialization of the same value.
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

    private readonly Booking _value = new(42, "Haircut", "Alex", new DateTime(2026, 11, 22, 10, 30, 0, DateTimeKind.Utc), 35.5m);
    private TestServers _servers = null!;
    private MemoryCache _memory = null!;
    private TwoTierCache _cache = null!;
    private ConnectionMultiplexer _raw = null!;
    private IDatabase _rawDb = null!;

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
        for (var i = 0; i < 100; i++)
        {
            TwoTierCache_L2Hit().GetAwaiter().GetResult();
            Raw_StringGet_Deserialize().GetAwaiter().GetResult();
        }
    }

    /// <summary>Stops everything.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _cache.DisposeAsync().AsTask().GetAwaiter().GetResult();
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

    /// <summary>A small cached record, like a booking summary.</summary>
    public sealed record Booking(int Id, string Service, string Staff, DateTime StartsAt, decimal Price);
}
