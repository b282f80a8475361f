using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;
using Scaling.Cache;
using Scaling.RateLimit;
using Scaling.Testing;
using StackExchange.Redis;
using Booking = Scaling.Benchmarks.Cache.CacheBenchmarks.Booking;

namespace Scaling.Benchmarks.Cluster;

/// <summary>
/// The cache's L2 hit and the three-policy rate-limit check on a real Redis Cluster (3 masters, 1 replica each, from
/// <see cref="TestServers.StartRedisClusterAsync"/>), against a raw StackExchange.Redis <c>GET</c> plus System.Text.Json
/// deserialization on the same cluster, in the same run, one call at a time. Every client is given the cluster's
/// configuration string (every node) and finds the cluster itself.
/// <list type="bullet">
/// <item><b>L2 hit</b>: as in <see cref="Cache.CacheBenchmarks"/>, the cache is told per call to neither read nor write
/// its L1 (<see cref="HybridCacheEntryFlags.DisableLocalCache"/>), so every call is one Redis read and one
/// deserialization of the same <see cref="Booking"/>.</item>
/// <item><b>Rate-limit check</b>: the three policies of <see cref="RateLimit.RateLimitBenchmarks"/> (per-second burst,
/// per-minute tier, daily tenant quota: one Lua call on the partition's master), counter mode, limits high enough that
/// every check is admitted and counted.</item>
/// </list>
/// The raw key, the cache's entry and the rate-limit partition are chosen so that one master serves all three: each
/// benchmark makes its round trip to the same node (the set-up prints it, in a line starting with <c>// Cluster</c>).
/// </summary>
[MemoryDiagnoser]
public class ClusterBenchmarks
{
    private const string KeyPrefix = "bench:";
    private const string CacheKey = "booking:42";

    private static readonly Func<CancellationToken, ValueTask<Booking>> NeverCalled =
        static _ => throw new InvalidOperationException("the benchmark expects a hit");

    private static readonly HybridCacheEntryOptions L2Only = new()
    {
        Expiration = TimeSpan.FromHours(1),
        Flags = HybridCacheEntryFlags.DisableLocalCache,
    };

    private readonly Booking _value = new(42, "Haircut", "Alex", new DateTime(2026, 11, 22, 10, 30, 0, DateTimeKind.Utc), 35.5m);
    private TestServers _servers = null!;
    private TwoTierCache _cache = null!;
    private RedisRateLimiter _limiter = null!;
    private RateLimitCheck _check = null!;
    private ConnectionMultiplexer _raw = null!;
    private IDatabase _rawDb = null!;
    private RedisKey _rawKey;

    /// <summary>Starts the cluster, places the three keys on one master, fills them and warms the connections.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _servers = TestServers.StartAsync().GetAwaiter().GetResult();
        var cluster = _servers.StartRedisClusterAsync().GetAwaiter().GetResult();
        var master = MasterFor(cluster, KeyPrefix + CacheKey);
        _rawKey = $"{KeyPrefix}raw:{OnMaster(cluster, master, i => $"{KeyPrefix}raw:{i}")}";

        // The limiter's keys are "bench:{partition}:policy[:subject]": the partition (the hash tag) decides the slot.
        var tenant = $"t:c{OnMaster(cluster, master, i => $"{KeyPrefix}{{{new RateLimitCheck($"t:c{i}", "premium").Partition}}}")}";
        _check = new RateLimitCheck(tenant, "premium")
            .Add(new RateLimitTier("burst", 1_000_000, TimeSpan.FromSeconds(1)), "u:0")
            .Add(new RateLimitTier("premium", 1_000_000_000, TimeSpan.FromMinutes(1)), "u:0")
            .Add(new RateLimitTier("tenant-daily", 1_000_000_000, TimeSpan.FromDays(1)));
        Console.WriteLine(
            $"// Cluster: {KeyPrefix}{CacheKey} (cache entry), {_rawKey} (raw GET) and partition {{{_check.Partition}}} (rate limit) on master {master.Name} ({master.EndPoint})");

        _raw = ConnectionMultiplexer.Connect(cluster.Configuration);
        _rawDb = _raw.GetDatabase();
        _rawDb.StringSet(_rawKey, JsonSerializer.SerializeToUtf8Bytes(_value, JsonSerializerOptions.Web));
        _cache = new TwoTierCache(Options.Create(new ScalingCacheOptions { RedisConfiguration = cluster.Configuration, KeyPrefix = KeyPrefix }));
        while (!_cache.IsBackplaneConnected)
        {
            Thread.Sleep(10);
        }

        Thread.Sleep(100); // the start-up flush
        _cache.SetAsync(CacheKey, _value, new HybridCacheEntryOptions { Expiration = TimeSpan.FromHours(1) }).AsTask().GetAwaiter().GetResult();
        _limiter = new RedisRateLimiter(Options.Create(new ScalingRateLimitOptions { RedisConfiguration = cluster.Configuration, KeyPrefix = KeyPrefix }));
        if (!_limiter.ConnectAsync().GetAwaiter().GetResult())
        {
            throw new InvalidOperationException("The limiter did not connect to the Redis Cluster.");
        }

        for (var i = 0; i < 100; i++)
        {
            Raw_Get().GetAwaiter().GetResult();
            TwoTierCache_L2Hit().GetAwaiter().GetResult();
            RateLimit_Check().AsTask().GetAwaiter().GetResult();
        }

        // Each benchmark must take its full path: a real L2 hit, and a check decided by Redis that admits.
        _ = Raw_Get().GetAwaiter().GetResult() == _value && TwoTierCache_L2Hit().GetAwaiter().GetResult() == _value
            ? 0
            : throw new InvalidOperationException("an L2 read did not return the stored value");
        var decision = RateLimit_Check().AsTask().GetAwaiter().GetResult();
        _ = decision.IsAllowed && !decision.IsDegraded && !_limiter.IsDegraded
            ? 0
            : throw new InvalidOperationException("the rate-limit check was not admitted by Redis");
    }

    /// <summary>Stops everything.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _limiter.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _cache.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _raw.Dispose();
        _servers.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>The baseline: <c>GET</c> on the cluster and deserialize.</summary>
    [Benchmark(Baseline = true)]
    public async Task<Booking> Raw_Get()
    {
        byte[] bytes = (await _rawDb.StringGetAsync(_rawKey))!;
        return JsonSerializer.Deserialize<Booking>(bytes, JsonSerializerOptions.Web)!;
    }

    /// <summary>An L2 hit on the cluster (L1 bypassed): single-flight, <c>GET</c>, envelope check, deserialize.</summary>
    [Benchmark]
    public async Task<Booking> TwoTierCache_L2Hit() => await _cache.GetOrCreateAsync(CacheKey, NeverCalled, L2Only);

    /// <summary>A three-policy check on the cluster (counter mode): one Lua call on the partition's master.</summary>
    [Benchmark]
    public ValueTask<RateLimitDecision> RateLimit_Check() => _limiter.CheckAsync(_check);

    private static RedisServer MasterFor(RedisCluster cluster, string key) =>
        cluster.MasterForKeyAsync(key).GetAwaiter().GetResult();

    /// <summary>The first <c>i</c> whose candidate key's slot <paramref name="master"/> serves.</summary>
    private static int OnMaster(RedisCluster cluster, RedisServer master, Func<int, string> candidate)
    {
        for (var i = 0; i < 100; i++)
        {
            if (MasterFor(cluster, candidate(i)) == master)
            {
                return i;
            }
        }

        throw new InvalidOperationException($"No candidate key landed on {master.Name}.");
    }
}
