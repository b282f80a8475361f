using System.Globalization;
using BenchmarkDotNet.Attributes;
using Scaling.RateLimit;
using Scaling.Testing;
using StackExchange.Redis;
using Microsoft.Extensions.Options;

namespace Scaling.Benchmarks.RateLimit;

/// <summary>
/// A rate-limit check with three policies (per-second burst, per-minute tier, daily tenant quota: one Lua call)
/// against a raw <c>GET</c> on the same Redis, at equal concurrency in the same run: 32 operations in flight at once
/// (Redis-bound: the Lua call's cost on Redis's one thread decides) and one at a time (latency-bound: the round
/// trip decides); in counter and in log mode. The set-up also measures the memory one key takes in each mode (Redis <c>MEMORY USAGE</c>) and
/// prints it (lines starting with <c>// RateLimit memory</c>).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkDotNet.Configs.BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class RateLimitBenchmarks
{
    private const int Concurrent = 32;
    private TestServers _servers = null!;
    private ConnectionMultiplexer _raw = null!;
    private IDatabase _rawDb = null!;
    private RedisRateLimiter _limiter = null!;
    private RedisKey[] _rawKeys = null!;
    private RateLimitCheck[] _counterChecks = null!;
    private RateLimitCheck[] _logChecks = null!;

    /// <summary>Starts the servers, connects, warms up and measures memory per key.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _servers = TestServers.StartAsync().GetAwaiter().GetResult();
        var endpoint = _servers.Redis[0].EndPoint;
        _raw = ConnectionMultiplexer.Connect(endpoint + ",allowAdmin=true");
        _rawDb = _raw.GetDatabase();
        _limiter = new RedisRateLimiter(Options.Create(new ScalingRateLimitOptions { RedisConfiguration = endpoint, KeyPrefix = "bench:" }));
        if (!_limiter.ConnectAsync().GetAwaiter().GetResult())
        {
            throw new InvalidOperationException("The limiter did not connect to Redis.");
        }

        _rawKeys = [.. Enumerable.Range(0, Concurrent).Select(i => (RedisKey)("bench:raw:" + i))];
        foreach (var key in _rawKeys)
        {
            _rawDb.StringSet(key, "value");
        }

        // Limits high enough that every check is admitted and counted (the full path: check and consume).
        _counterChecks = Checks("c", RateLimitAlgorithm.SlidingWindowCounter);
        _logChecks = Checks("l", RateLimitAlgorithm.SlidingLog);
        for (var i = 0; i < 50; i++)
        {
            RawGet_32InFlight().GetAwaiter().GetResult();
            ThreePolicyCheck_Counter_32InFlight().GetAwaiter().GetResult();
        }

        MeasureMemoryPerKey();
    }

    /// <summary>Prints Redis's own time per call (<c>INFO commandstats</c>), then disposes the limiter, the connection and the servers.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        var stats = (string)_rawDb.Execute("INFO", "commandstats")!;
        foreach (var line in stats.Split('\n'))
        {
            if (line.StartsWith("cmdstat_get:", StringComparison.Ordinal) || line.StartsWith("cmdstat_evalsha:", StringComparison.Ordinal))
            {
                Console.WriteLine("// RateLimit server time: " + line.Trim());
            }
        }

        _limiter.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _raw.Dispose();
        _servers.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>The baseline: 32 <c>GET</c>s in flight at once (time per <c>GET</c>).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Concurrent)]
    [BenchmarkCategory("32 in flight")]
    public Task RawGet_32InFlight() => Task.WhenAll(_rawKeys.Select(key => _rawDb.StringGetAsync(key)));

    /// <summary>32 three-policy checks (counter mode, the default) in flight at once, on distinct partitions (time per check).</summary>
    [Benchmark(OperationsPerInvoke = Concurrent)]
    [BenchmarkCategory("32 in flight")]
    public Task ThreePolicyCheck_Counter_32InFlight() => Task.WhenAll(_counterChecks.Select(check => _limiter.CheckAsync(check).AsTask()));

    /// <summary>The same in log mode (one sorted-set entry per request and policy; entries of the 1 s policy expire as they go).</summary>
    [Benchmark(OperationsPerInvoke = Concurrent)]
    [BenchmarkCategory("32 in flight")]
    public Task ThreePolicyCheck_Log_32InFlight() => Task.WhenAll(_logChecks.Select(check => _limiter.CheckAsync(check).AsTask()));

    /// <summary>The baseline one at a time: a single <c>GET</c> (one round trip).</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("1 in flight")]
    public Task<RedisValue> RawGet_1InFlight() => _rawDb.StringGetAsync(_rawKeys[0]);

    /// <summary>A single three-policy check (counter mode), one at a time.</summary>
    [Benchmark]
    [BenchmarkCategory("1 in flight")]
    public ValueTask<RateLimitDecision> ThreePolicyCheck_Counter_1InFlight() => _limiter.CheckAsync(_counterChecks[0]);

    private static RateLimitCheck[] Checks(string name, RateLimitAlgorithm algorithm) =>
    [
        .. Enumerable.Range(0, Concurrent).Select(i => new RateLimitCheck($"t:{name}{i}", "premium")
            .Add(new RateLimitTier("burst", 1_000_000, TimeSpan.FromSeconds(1)) { Algorithm = algorithm }, $"u:{i}")
            .Add(new RateLimitTier("premium", 1_000_000_000, TimeSpan.FromMinutes(1)) { Algorithm = algorithm }, $"u:{i}")
            .Add(new RateLimitTier("tenant-daily", 1_000_000_000, TimeSpan.FromDays(1)) { Algorithm = algorithm })),
    ];

    /// <summary>Memory of one key per mode, after 100 and after 5,000 requests in its window (the default tiers' sizes).</summary>
    private void MeasureMemoryPerKey()
    {
        foreach (var requests in new[] { 1, 100, 5_000 })
        {
            foreach (var algorithm in new[] { RateLimitAlgorithm.SlidingWindowCounter, RateLimitAlgorithm.SlidingLog })
            {
                var partition = $"mem-{algorithm}-{requests}";
                var check = new RateLimitCheck(partition, "memory")
                    .Add(new RateLimitTier("tier", 1_000_000, TimeSpan.FromMinutes(1)) { Algorithm = algorithm });
                Task.WhenAll(Enumerable.Range(0, requests).Select(_ => _limiter.CheckAsync(check).AsTask())).GetAwaiter().GetResult();
                var bytes = (long)_rawDb.Execute("MEMORY", "USAGE", $"bench:{{{partition}}}:tier", "SAMPLES", "0");
                Console.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"// RateLimit memory per key: {algorithm}, {requests} request(s) in the window: {bytes} bytes"));
            }
        }
    }
}
