using System.Diagnostics;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;
using Scaling.Testing;

namespace Scaling.Cache.Tests;

/// <summary>The spans of the <c>Scaling.Cache</c> activity source: L2 reads and factory calls behind a miss, and none for an L1 hit.</summary>
[Collection(ServersCollection.Name)]
public sealed class TracingTests(ServersFixture fixture) : IAsyncLifetime
{
    private CacheTestKit _kit = null!;

    public Task InitializeAsync()
    {
        _kit = new CacheTestKit(fixture.Servers, "tracing");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _kit.DisposeAsync();

    [Fact]
    public async Task A_miss_is_traced_as_an_L2_get_and_a_factory_call_an_L2_hit_as_an_L2_get_only_and_an_L1_hit_not_at_all()
    {
        using var spans = new ActivityRecorder("Scaling.Cache");
        var a = await _kit.CreateReadyAsync();
        var b = await _kit.CreateReadyAsync();
        var key = "tenant:acme:greeting:" + Guid.NewGuid().ToString("N")[..8];

        using (var trace = ActivityRecorder.StartTrace())
        {
            Assert.Equal("made", await a.GetOrCreateAsync(key, _ => ValueTask.FromResult("made")));
            var l2 = Assert.Single(spans.InTrace(trace, "cache L2 get"));
            Assert.Equal(ActivityKind.Internal, l2.Kind);
            Assert.Equal(trace.SpanId, l2.ParentSpanId);
            Assert.Equal(key, l2.GetTagItem("scaling.cache.key"));
            Assert.Equal("l2", l2.GetTagItem("scaling.cache.tier"));
            Assert.Equal(false, l2.GetTagItem("scaling.cache.hit"));
            Assert.Equal(true, l2.GetTagItem("scaling.cache.l2.available"));
            var made = Assert.Single(spans.InTrace(trace, "cache factory"));
            Assert.Equal(trace.SpanId, made.ParentSpanId);
            Assert.Equal(key, made.GetTagItem("scaling.cache.key"));
            Assert.Null(made.GetTagItem("scaling.cache.stale_served"));
            Assert.Equal(ActivityStatusCode.Unset, made.Status);
            Assert.DoesNotContain(made.TagObjects, t => Equals(t.Value, "made")); // values are never tagged
        }

        using (var trace = ActivityRecorder.StartTrace())
        {
            Assert.Equal("made", await a.GetOrCreateAsync(key, _ => ValueTask.FromResult("not called")));
            Assert.Empty(spans.InTrace(trace)); // an L1 hit
        }

        using (var trace = ActivityRecorder.StartTrace())
        {
            Assert.Equal("made", await b.GetOrCreateAsync(key, _ => ValueTask.FromResult("not called")));
            var l2 = Assert.Single(spans.InTrace(trace, "cache L2 get"));
            Assert.Equal(true, l2.GetTagItem("scaling.cache.hit"));
            Assert.Empty(spans.InTrace(trace, "cache factory"));
        }
    }

    [Fact]
    public async Task An_L1_hit_with_a_listener_attached_starts_no_span_and_allocates_nothing()
    {
        using var spans = new ActivityRecorder("Scaling.Cache");
        // Built without the kit's metrics listener, so that only the cache itself can allocate.
        await using var cache = new TwoTierCache(Options.Create(new ScalingCacheOptions
        {
            RedisConfiguration = fixture.Servers.Redis[0].EndPoint + ",connectTimeout=1000",
            KeyPrefix = _kit.Prefix,
        }));
        await CacheTestKit.ReadyAsync(cache); // the start-up flush of L1 is behind us
        var key = "hot:" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(7, await cache.GetOrCreateAsync(key, 7, static (state, _) => ValueTask.FromResult(state)));

        using var trace = ActivityRecorder.StartTrace();
        Assert.Equal(0, Hits(cache, key, 100)); // warm-up (JIT)
        var allocated = AllocatedBy(() => Hits(cache, key, 10_000));
        Assert.Equal(0, allocated);
        Assert.Empty(spans.InTrace(trace));
    }

    [Fact]
    public async Task A_failing_factory_answered_by_fail_safe_is_traced_as_a_failed_factory_call_that_served_the_stale_value()
    {
        using var spans = new ActivityRecorder("Scaling.Cache");
        var cache = await _kit.CreateReadyAsync(o => o.FailSafeThrottleDuration = TimeSpan.FromSeconds(30));
        var key = "price:" + Guid.NewGuid().ToString("N")[..8];
        var shortLived = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMilliseconds(300) };
        Assert.Equal("v1", await cache.GetOrCreateAsync(key, _ => ValueTask.FromResult("v1"), shortLived));
        await Task.Delay(500);

        using var trace = ActivityRecorder.StartTrace();
        Assert.Equal("v1", await cache.GetOrCreateAsync(key, _ => ValueTask.FromException<string>(new InvalidOperationException("the database is down")), shortLived));

        var l2Spans = spans.InTrace(trace, "cache L2 get");
        Assert.True(l2Spans.Count == 1, $"one L2 read expected; the trace had: [{string.Join(", ", spans.InTrace(trace).Select(a => a.OperationName))}]; the cache logged: [{string.Join(" | ", _kit.Logs.Entries)}]");
        var l2 = l2Spans[0];
        Assert.Equal(false, l2.GetTagItem("scaling.cache.hit"));
        Assert.Equal(true, l2.GetTagItem("scaling.cache.l2.expired"));
        var factory = Assert.Single(spans.InTrace(trace, "cache factory"));
        Assert.Equal(key, factory.GetTagItem("scaling.cache.key"));
        Assert.Equal(ActivityStatusCode.Error, factory.Status);
        Assert.Equal(typeof(InvalidOperationException).FullName, factory.GetTagItem("error.type"));
        Assert.Equal(true, factory.GetTagItem("scaling.cache.stale_served"));
        Assert.Equal("factory_failed", factory.GetTagItem("scaling.cache.stale_reason"));
        Assert.Equal("l1", factory.GetTagItem("scaling.cache.stale_tier"));
    }

    private static int Hits(TwoTierCache cache, string key, int count)
    {
        var misses = 0;
        for (var i = 0; i < count; i++)
        {
            var pending = cache.GetOrCreateAsync(key, -1, static (state, _) => ValueTask.FromResult(state));
            if (!pending.IsCompletedSuccessfully || pending.Result != 7)
            {
                misses++;
            }
        }

        return misses;
    }

    private static long AllocatedBy(Func<int> run)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var misses = run();
        var after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, misses);
        return after - before;
    }
}
