using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Medallion.Threading.Redis;
using Microsoft.Extensions.Options;
using RedLockNet.SERedis;
using RedLockNet.SERedis.Configuration;
using Scaling.Locks;
using Scaling.Testing;
using StackExchange.Redis;

namespace Scaling.Benchmarks.Locks;

/// <summary>
/// Redlock over three local masters (acquire + release) against the plain single-node lock it replaces
/// (<c>SET key value NX PX ttl</c> + <c>DEL</c> on one Redis) and against the peers a user would pick instead,
/// RedLock.net 2.3.2 and DistributedLock.Redis 1.1.1 (its RedLock mode, over the same three masters), in the same run:
/// uncontended one at a time, uncontended with 32 in flight, and 16 contenders on one resource.
/// </summary>
/// <remarks>
/// Both peers always extend a held lock in the background (RedLock.net: a timer every TTL/2; DistributedLock: a loop
/// every 0.3 × TTL), so they are compared with ours with <see cref="ScalingLocksOptions.AutoExtend"/> on (the default).
/// The peers use the application's own multiplexers, one per master, made with their defaults as their READMEs show.
/// </remarks>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class RedlockBenchmarks
{
    private const int Concurrent = 32;
    private const int Contenders = 16;
    private const string Uncontended = "uncontended";
    private const string InFlight = "32 in flight";
    private const string Contended = "16 contenders";
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);

    // Contenders wait up to this long; a contender that still has no lock counts as a failure (printed at the end).
    private static readonly TimeSpan ContendedWait = TimeSpan.FromSeconds(10);

    // RedLock.net has no default retry interval for a wait (its README's example passes 1 s): 50 ms, about the mean of
    // our random 10-100 ms delay. Within each of its attempts it also retries up to 3 times after a random 0-400 ms
    // sleep (its default RedLockRetryConfiguration).
    private static readonly TimeSpan RedLockNetRetry = TimeSpan.FromMilliseconds(50);

    private readonly string[] _resources = [.. Enumerable.Range(0, Concurrent).Select(i => "bench:concurrent:" + i)];
    private TestServers _servers = null!;
    private ConnectionMultiplexer _single = null!;
    private IDatabase _singleDb = null!;
    private RedlockProvider _redlock = null!;
    private RedlockProvider _redlockAutoExtend = null!;
    private ConnectionMultiplexer[] _masters = null!;
    private RedLockFactory _redLockNet = null!;
    private RedisDistributedSynchronizationProvider _distributedLock = null!;
    private int _contended;
    private int _contendedFailures;

    /// <summary>Starts the servers and connects.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _servers = TestServers.StartAsync().GetAwaiter().GetResult();
        var endpoints = string.Join(',', _servers.Redis.Select(r => r.EndPoint));
        _single = ConnectionMultiplexer.Connect(_servers.Redis[0].EndPoint);
        _singleDb = _single.GetDatabase();
        _redlock = new RedlockProvider(Options.Create(new ScalingLocksOptions { AutoExtend = false }.AddEndpoints(endpoints)));
        _redlockAutoExtend = new RedlockProvider(Options.Create(new ScalingLocksOptions { AutoExtend = true }.AddEndpoints(endpoints)));

        // The peers, as their READMEs show: RedLockFactory.Create over one existing multiplexer per master, and
        // RedisDistributedLock over those masters' IDatabase (RedLock when given several), with the same TTL as ours.
        _masters = [.. _servers.Redis.Select(r => ConnectionMultiplexer.Connect(r.EndPoint))];
        _redLockNet = RedLockFactory.Create([.. _masters.Select(m => new RedLockMultiplexer(m))]);
        _distributedLock = new RedisDistributedSynchronizationProvider(_masters.Select(m => m.GetDatabase()), o => o.Expiry(Ttl));
        for (var i = 0; i < 20; i++)
        {
            // Connections up and scripts cached on every master before measuring. A cold first attempt may miss its
            // short acquire window on a loaded machine (a CI dry run saw DistributedLock's do so): the warm-up retries,
            // the measured calls do not.
            WarmUp(Redlock3_AcquireRelease);
            WarmUp(Redlock3_AcquireRelease_AutoExtend);
            WarmUp(RedLockNet_AcquireRelease);
            WarmUp(DistributedLock_AcquireRelease);
        }
    }

    private static void WarmUp(Func<Task> acquireRelease)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                acquireRelease().GetAwaiter().GetResult();
                return;
            }
            catch (InvalidOperationException) when (attempt < 10)
            {
                Thread.Sleep(100);
            }
        }
    }

    /// <summary>Prints the contended failures, disposes the providers and the servers.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        if (_contended > 0)
        {
            Console.WriteLine($"// contended acquisitions: {_contended}, failed (no lock within {ContendedWait.TotalSeconds:0} s): {_contendedFailures}");
        }

        _redlock.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _redlockAutoExtend.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _redLockNet.Dispose();
        foreach (var master in _masters)
        {
            master.Dispose();
        }

        _single.Dispose();
        _servers.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>The single-node lock: <c>SET NX PX</c> then <c>DEL</c> on one Redis.</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory(Uncontended)]
    public async Task<bool> SingleNode_SetNx_Del()
    {
        var acquired = await _singleDb.StringSetAsync("bench:single", "owner", Ttl, When.NotExists);
        await _singleDb.KeyDeleteAsync("bench:single");
        return acquired;
    }

    /// <summary>Redlock on three masters: parallel <c>SET NX PX</c>, quorum, then compare-and-delete on every master.</summary>
    [Benchmark]
    [BenchmarkCategory(Uncontended)]
    public async Task Redlock3_AcquireRelease()
    {
        var handle = await _redlock.TryAcquireAsync("bench:redlock", Ttl, TimeSpan.Zero) ?? throw new InvalidOperationException("not acquired");
        await handle.DisposeAsync();
    }

    /// <summary>The same with automatic extension on (the default): starts and stops the extension loop too.</summary>
    [Benchmark]
    [BenchmarkCategory(Uncontended)]
    public async Task Redlock3_AcquireRelease_AutoExtend()
    {
        var handle = await _redlockAutoExtend.TryAcquireAsync("bench:redlock-extend", Ttl, TimeSpan.Zero) ?? throw new InvalidOperationException("not acquired");
        await handle.DisposeAsync();
    }

    /// <summary>RedLock.net on the three masters: one attempt (no wait), then release; its extension timer starts and stops.</summary>
    [Benchmark]
    [BenchmarkCategory(Uncontended)]
    public async Task RedLockNet_AcquireRelease()
    {
        var redLock = await _redLockNet.CreateLockAsync("bench:redlocknet", Ttl);
        if (!redLock.IsAcquired)
        {
            throw new InvalidOperationException("not acquired: " + redLock.Status);
        }

        await redLock.DisposeAsync();
    }

    /// <summary>DistributedLock.Redis on the three masters (RedLock): one attempt (no wait), then release; its extension loop starts and stops.</summary>
    [Benchmark]
    [BenchmarkCategory(Uncontended)]
    public async Task DistributedLock_AcquireRelease()
    {
        var handle = await _distributedLock.CreateLock("bench:distributedlock").TryAcquireAsync(TimeSpan.Zero) ?? throw new InvalidOperationException("not acquired");
        await handle.DisposeAsync();
    }

    /// <summary>Single-node throughput: 32 <c>SET NX</c> + <c>DEL</c> cycles in flight at once on distinct keys (time per cycle).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Concurrent)]
    [BenchmarkCategory(InFlight)]
    public Task SingleNode_SetNx_Del_32InFlight() => Task.WhenAll(_resources.Select(async resource =>
    {
        await _singleDb.StringSetAsync(resource, "owner", Ttl, When.NotExists);
        await _singleDb.KeyDeleteAsync(resource);
    }));

    /// <summary>Uncontended throughput: 32 acquire/release cycles in flight at once on distinct resources (time per cycle).</summary>
    [Benchmark(OperationsPerInvoke = Concurrent)]
    [BenchmarkCategory(InFlight)]
    public Task Redlock3_AcquireRelease_32InFlight() => Task.WhenAll(_resources.Select(async resource =>
    {
        var handle = await _redlock.TryAcquireAsync(resource, Ttl, TimeSpan.Zero) ?? throw new InvalidOperationException("not acquired");
        await handle.DisposeAsync();
    }));

    /// <summary>
    /// Ours (automatic extension on, as the peers): 16 contenders acquire the same resource, each waiting (random 10-100 ms
    /// retry delays), then release at once; time per acquisition.
    /// </summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Contenders)]
    [BenchmarkCategory(Contended)]
    public Task Redlock3_16Contenders() => ContendAsync(async () =>
    {
        var handle = await _redlockAutoExtend.TryAcquireAsync("bench:contended", Ttl, ContendedWait);
        if (handle is null)
        {
            return false;
        }

        await handle.DisposeAsync();
        return true;
    });

    /// <summary>RedLock.net: 16 contenders on one resource, each waiting (retry every 50 ms), then release; time per acquisition.</summary>
    [Benchmark(OperationsPerInvoke = Contenders)]
    [BenchmarkCategory(Contended)]
    public Task RedLockNet_16Contenders() => ContendAsync(async () =>
    {
        await using var redLock = await _redLockNet.CreateLockAsync("bench:contended-redlocknet", Ttl, ContendedWait, RedLockNetRetry);
        return redLock.IsAcquired;
    });

    /// <summary>DistributedLock.Redis: 16 contenders on one resource, each waiting (its default random 10-800 ms sleeps), then release; time per acquisition.</summary>
    [Benchmark(OperationsPerInvoke = Contenders)]
    [BenchmarkCategory(Contended)]
    public Task DistributedLock_16Contenders() => ContendAsync(async () =>
    {
        var handle = await _distributedLock.CreateLock("bench:contended-distributedlock").TryAcquireAsync(ContendedWait);
        if (handle is null)
        {
            return false;
        }

        await handle.DisposeAsync();
        return true;
    });

    private async Task ContendAsync(Func<Task<bool>> acquireRelease)
    {
        var results = await Task.WhenAll(Enumerable.Range(0, Contenders).Select(_ => Task.Run(acquireRelease)));
        _contended += Contenders;
        _contendedFailures += results.Count(acquired => !acquired);
    }
}
