using Microsoft.Extensions.Options;
using Scaling.Testing;

namespace Scaling.Cache.Tests;

/// <summary>The cache on the application's own multiplexer: no connection of its own, and the multiplexer left as it was.</summary>
[Collection(ServersCollection.Name)]
public sealed class SharedMultiplexerTests(ServersFixture fixture)
{
    [Fact]
    public async Task Two_caches_on_one_application_multiplexer_stay_coherent_and_leave_it_open_and_unchanged()
    {
        await using var app = await ApplicationMultiplexer.ConnectAsync(fixture.Servers.Redis[0].EndPoint);
        var prefix = "t-shared-" + Guid.NewGuid().ToString("N")[..8] + ":";
        var options = Options.Create(new ScalingCacheOptions
        {
            ConnectionMultiplexerFactory = app.Factory,
            KeyPrefix = prefix,

            // As in CacheTestKit: behaviour, not latency. With the 500 ms default, a slow answer on a loaded CI machine opened
            // a cache's breaker for 5 s: B then read the factory instead of L2, or A's write waited for its replay.
            DistributedCacheTimeout = TimeSpan.FromSeconds(2),
            CircuitBreakDuration = TimeSpan.FromMilliseconds(500),
        });
        var a = await CacheTestKit.ReadyAsync(new TwoTierCache(options));
        var b = await CacheTestKit.ReadyAsync(new TwoTierCache(options));
        var truth = "v1";
        var database = new CountingFactory<string>(_ => truth);

        await a.SetAsync("menu", "v1");
        Assert.Equal("v1", await b.GetOrCreateAsync("menu", database.InvokeAsync));
        truth = "v2";
        await a.SetAsync("menu", "v2");
        await Eventually.TrueAsync(async () => await b.GetOrCreateAsync("menu", database.InvokeAsync) == "v2", TimeSpan.FromSeconds(5), "B sees A's update");
        Assert.Equal(0, database.Calls);
        Assert.DoesNotContain(await app.OtherClientNamesAsync(), n => n.StartsWith("scaling-", StringComparison.Ordinal));
        Assert.Equal(1, await app.SubscribersAsync(prefix + "backplane")); // one subscription for both caches on the multiplexer

        await a.DisposeAsync();
        Assert.Equal(1, await app.SubscribersAsync(prefix + "backplane")); // B's queue keeps the subscription
        await b.DisposeAsync();
        Assert.Equal(0, await app.SubscribersAsync(prefix + "backplane"));
        await app.AssertUntouchedAsync();
    }
}
