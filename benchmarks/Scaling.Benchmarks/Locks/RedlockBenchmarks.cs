using BenchmarkDotNet.Attributes;
using Scaling.Locks;
using Scaling.Testing;
using StackExchange.Redis;
using Microsoft.Extensions.Options;

namespace Scaling.Benchmarks.Locks;

/// <summary>
/// Redlock over three local masters (acquire + release) against the plain single-node lock it replaces
/// (<c>SET key value NX PX ttl</c> + <c>DEL</c> on one Redis), in the same run; plus the throughput of
/// uncontended acquire/release with 32 in flight at once.
/// </summary>
[MemoryDiagnoser]
public class RedlockBenchmarks
{
    private const int Concurrent = 32;
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);
    private readonly string[] _resources = [.. Enumerable.Range(0, Concurrent).Select(i => "bench:concurrent:" + i)];
    private TestServers _servers = null!;
    private ConnectionMultiplexer _single = null!;
    private IDatabase _singleDb = null!;
    private RedlockProvider _redlock = null!;
    private RedlockProvider _redlockAutoExtend = null!;

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
        for (var i = 0; i < 20; i++)
        {
            // Connections up and scripts cached on every master before measuring.
            Redlock3_AcquireRelease().GetAwaiter().GetResult();
            Redlock3_AcquireRelease_AutoExtend().GetAwaiter().GetResult();
        }
    }

    /// <summary>Disposes the providers and the servers.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _redlock.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _redlockAutoExtend.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _single.Dispose();
        _servers.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>The single-node lock: <c>SET NX PX</c> then <c>DEL</c> on one Redis.</summary>
    [Benchmark(Baseline = true)]
    public async Task<bool> SingleNode_SetNx_Del()
    {
        var acquired = await _singleDb.StringSetAsync("bench:single", "owner", Ttl, When.NotExists);
        await _singleDb.KeyDeleteAsync("bench:single");
        return acquired;
    }

    /// <summary>Single-node throughput: 32 <c>SET NX</c> + <c>DEL</c> cycles in flight at once on distinct keys (time per cycle).</summary>
    [Benchmark(OperationsPerInvoke = Concurrent)]
    public Task SingleNode_SetNx_Del_32InFlight() => Task.WhenAll(_resources.Select(async resource =>
    {
        await _singleDb.StringSetAsync(resource, "owner", Ttl, When.NotExists);
        await _singleDb.KeyDeleteAsync(resource);
    }));

    /// <summary>Redlock on three masters: parallel <c>SET NX PX</c>, quorum, then compare-and-delete on every master.</summary>
    [Benchmark]
    public async Task Redlock3_AcquireRelease()
    {
        var handle = await _redlock.TryAcquireAsync("bench:redlock", Ttl, TimeSpan.Zero) ?? throw new InvalidOperationException("not acquired");
        await handle.DisposeAsync();
    }

    /// <summary>The same with automatic extension on (the default): starts and stops the extension loop too.</summary>
    [Benchmark]
    public async Task Redlock3_AcquireRelease_AutoExtend()
    {
        var handle = await _redlockAutoExtend.TryAcquireAsync("bench:redlock-extend", Ttl, TimeSpan.Zero) ?? throw new InvalidOperationException("not acquired");
        await handle.DisposeAsync();
    }

    /// <summary>Uncontended throughput: 32 acquire/release cycles in flight at once on distinct resources (time per cycle).</summary>
    [Benchmark(OperationsPerInvoke = Concurrent)]
    public Task Redlock3_AcquireRelease_32InFlight() => Task.WhenAll(_resources.Select(async resource =>
    {
        var handle = await _redlock.TryAcquireAsync(resource, Ttl, TimeSpan.Zero) ?? throw new InvalidOperationException("not acquired");
        await handle.DisposeAsync();
    }));
}
