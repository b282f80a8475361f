using System.Globalization;
using System.Threading.RateLimiting;
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
/// trip decides); in counter and in log mode; and the peer, RedisRateLimiting 1.2.1, with the same three policies as
/// three sliding-window limiters chained (<see cref="RedisRateLimitingChain"/>: three Lua calls in turn). Limits are
/// high enough that every check is admitted and counted. The set-up also measures the memory one key takes in each
/// mode (Redis <c>MEMORY USAGE</c>) and prints it (lines starting with <c>// RateLimit memory</c>).
/// </summary>
/// <remarks>
/// BenchmarkDotNet runs each benchmark in its own process, so the clean-up's <c>INFO commandstats</c> (reset at the end
/// of the set-up) holds that benchmark's calls only: lines starting with <c>// RateLimit server time</c> give Redis's
/// own µs per call of each command it ran (a script's inner commands are listed too; their time is inside the
/// script's), and per check: the top-level calls' time (<c>EVALSHA</c>, <c>EVAL</c>, <c>GET</c>) over the checks (for
/// the peer, three <c>EVALSHA</c> per check).
/// </remarks>
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
    private RedisRateLimiter _reserving = null!;
    private RedisKey[] _rawKeys = null!;
    private RateLimitCheck[] _counterChecks = null!;
    private RateLimitCheck[] _logChecks = null!;
    private ConnectionMultiplexer _peerConnection = null!;
    private PartitionedRateLimiter<RateLimitCaller> _peer = null!;
    private RateLimitCaller[] _callers = null!;
    private string _label = string.Empty;
    private int _callsPerCheck = 1;
    private bool _reserves;

    /// <summary>Set-up of the raw <c>GET</c> baselines.</summary>
    [GlobalSetup(Targets = [nameof(RawGet_32InFlight), nameof(RawGet_1InFlight)])]
    public void SetupRaw() => Setup("raw GET", 1, () => RawGet_32InFlight());

    /// <summary>Set-up of our checks in counter mode (and the memory per key).</summary>
    [GlobalSetup(Targets = [nameof(ThreePolicyCheck_Counter_32InFlight), nameof(ThreePolicyCheck_Counter_1InFlight)])]
    public void SetupCounter() => Setup("Scaling.RateLimit counter", 1, () => ThreePolicyCheck_Counter_32InFlight(), MeasureMemoryPerKey);

    /// <summary>Set-up of our checks in counter mode with reserved permits.</summary>
    [GlobalSetup(Target = nameof(ThreePolicyCheck_Reserved_32InFlight))]
    public void SetupReserved()
    {
        _reserves = true;
        Setup("Scaling.RateLimit counter, reserved permits", 1, () => ThreePolicyCheck_Reserved_32InFlight());
    }

    /// <summary>Set-up of our checks in log mode.</summary>
    [GlobalSetup(Target = nameof(ThreePolicyCheck_Log_32InFlight))]
    public void SetupLog() => Setup("Scaling.RateLimit log", 1, () => ThreePolicyCheck_Log_32InFlight());

    /// <summary>Set-up of the peer's chained limiters.</summary>
    [GlobalSetup(Targets = [nameof(RedisRateLimiting_ThreeChained_32InFlight), nameof(RedisRateLimiting_ThreeChained_1InFlight)])]
    public void SetupPeer() => Setup("RedisRateLimiting x3 chained", 3, () => RedisRateLimiting_ThreeChained_32InFlight());

    /// <summary>Starts the servers, connects everything, warms the benchmark's path up and resets Redis's command statistics.</summary>
    private void Setup(string label, int callsPerCheck, Func<Task> warmUp, Action? measure = null)
    {
        _label = label;
        _callsPerCheck = callsPerCheck;
        _servers = TestServers.StartAsync().GetAwaiter().GetResult();
        var endpoint = _servers.Redis[0].EndPoint;
        _raw = ConnectionMultiplexer.Connect(endpoint + ",allowAdmin=true");
        _rawDb = _raw.GetDatabase();
        _limiter = new RedisRateLimiter(Options.Create(new ScalingRateLimitOptions { RedisConfiguration = endpoint, KeyPrefix = "bench:" }));
        _reserving = new RedisRateLimiter(Options.Create(new ScalingRateLimitOptions { RedisConfiguration = endpoint, KeyPrefix = "bench:", MaxReservedPermits = 1_000 }));
        if (!_limiter.ConnectAsync().GetAwaiter().GetResult() || !_reserving.ConnectAsync().GetAwaiter().GetResult())
        {
            throw new InvalidOperationException("The limiter did not connect to Redis.");
        }

        // The peer on its own multiplexer, as its README sets it up (ConnectionMultiplexerFactory = () => connection).
        _peerConnection = ConnectionMultiplexer.Connect(endpoint);
        _peer = RedisRateLimitingChain.Create(_peerConnection, burst: 1_000_000, tier: 1_000_000_000, daily: 1_000_000_000);
        _callers = [.. Enumerable.Range(0, Concurrent).Select(i => new RateLimitCaller($"t:p{i}", $"u:{i}"))];

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
            warmUp().GetAwaiter().GetResult();
        }

        measure?.Invoke();
        _raw.GetServer(_raw.GetEndPoints()[0]).Execute("CONFIG", "RESETSTAT");
    }

    /// <summary>
    /// Prints Redis's own time per call of this benchmark's commands (<c>INFO commandstats</c>, reset at the end of the
    /// set-up) and per check, then disposes the limiters, the connections and the servers.
    /// </summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        var stats = (string)_rawDb.Execute("INFO", "commandstats")!;
        long usec = 0;
        long scripts = 0;
        long getUsec = 0;
        long gets = 0;
        foreach (var line in stats.Split('\n'))
        {
            var trimmed = line.Trim();
            if (!trimmed.StartsWith("cmdstat_", StringComparison.Ordinal) || trimmed.StartsWith("cmdstat_info:", StringComparison.Ordinal) || trimmed.StartsWith("cmdstat_config", StringComparison.Ordinal))
            {
                continue;
            }

            // The commands a script calls are listed too, but their time is already inside the script's own.
            Console.WriteLine($"// RateLimit server time, {_label}: {trimmed}");
            if (trimmed.StartsWith("cmdstat_evalsha:", StringComparison.Ordinal) || trimmed.StartsWith("cmdstat_eval:", StringComparison.Ordinal))
            {
                scripts += Field(trimmed, "calls=");
                usec += Field(trimmed, "usec=");
            }
            else if (trimmed.StartsWith("cmdstat_get:", StringComparison.Ordinal))
            {
                gets += Field(trimmed, "calls=");
                getUsec += Field(trimmed, "usec=");
            }
        }

        if (scripts == 0)
        {
            // The raw GET baseline: its GETs are the top-level calls (a script's inner GETs are not).
            scripts = gets;
            usec = getUsec;
        }

        var checks = scripts / _callsPerCheck;
        if (checks > 0 && _reserves)
        {
            // Most checks never reach Redis: the calls are the reservations' (and the checks made while one was asked for).
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"// RateLimit server time per script call, {_label}: {(double)usec / scripts:0.00} us ({scripts} calls)"));
        }
        else if (checks > 0)
        {
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"// RateLimit server time per check, {_label}: {(double)usec / checks:0.00} us ({checks} checks, {_callsPerCheck} call(s) each)"));
        }

        _peer.Dispose();
        _peerConnection.Dispose();
        _limiter.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _reserving.DisposeAsync().AsTask().GetAwaiter().GetResult();
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

    /// <summary>
    /// The same checks with <see cref="ScalingRateLimitOptions.MaxReservedPermits"/> 1,000: each of the 32 keys is hot,
    /// so most checks are admitted from permits reserved in Redis ahead of use (a different guarantee: never over the
    /// limit, possibly a little under it; the peer has no such mode).
    /// </summary>
    [Benchmark(OperationsPerInvoke = Concurrent)]
    [BenchmarkCategory("32 in flight")]
    public Task ThreePolicyCheck_Reserved_32InFlight() => Task.WhenAll(_counterChecks.Select(check => _reserving.CheckAsync(check).AsTask()));

    /// <summary>The same in log mode (one sorted-set entry per request and policy; entries of the 1 s policy expire as they go).</summary>
    [Benchmark(OperationsPerInvoke = Concurrent)]
    [BenchmarkCategory("32 in flight")]
    public Task ThreePolicyCheck_Log_32InFlight() => Task.WhenAll(_logChecks.Select(check => _limiter.CheckAsync(check).AsTask()));

    /// <summary>The peer: 32 chained three-policy acquisitions in flight at once, on distinct users and tenants (time per check).</summary>
    [Benchmark(OperationsPerInvoke = Concurrent)]
    [BenchmarkCategory("32 in flight")]
    public Task RedisRateLimiting_ThreeChained_32InFlight() => Task.WhenAll(_callers.Select(caller => AcquireFromPeerAsync(caller)));

    /// <summary>The baseline one at a time: a single <c>GET</c> (one round trip).</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("1 in flight")]
    public Task<RedisValue> RawGet_1InFlight() => _rawDb.StringGetAsync(_rawKeys[0]);

    /// <summary>A single three-policy check (counter mode), one at a time.</summary>
    [Benchmark]
    [BenchmarkCategory("1 in flight")]
    public ValueTask<RateLimitDecision> ThreePolicyCheck_Counter_1InFlight() => _limiter.CheckAsync(_counterChecks[0]);

    /// <summary>The peer one at a time: one chained three-policy acquisition (three round trips in turn).</summary>
    [Benchmark]
    [BenchmarkCategory("1 in flight")]
    public Task<bool> RedisRateLimiting_ThreeChained_1InFlight() => AcquireFromPeerAsync(_callers[0]);

    private async Task<bool> AcquireFromPeerAsync(RateLimitCaller caller)
    {
        using var lease = await _peer.AcquireAsync(caller).ConfigureAwait(false);
        return lease.IsAcquired;
    }

    private static long Field(string line, string name)
    {
        var start = line.IndexOf(name, StringComparison.Ordinal);
        if (start < 0 || (start > 0 && line[start - 1] is not (',' or ':')))
        {
            return 0;
        }

        start += name.Length;
        var end = line.IndexOf(',', start);
        return long.Parse(line.AsSpan(start, (end < 0 ? line.Length : end) - start), NumberStyles.Integer, CultureInfo.InvariantCulture);
    }

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
