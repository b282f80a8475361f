using System.Diagnostics;
using Microsoft.Extensions.Caching.Hybrid;
using Scaling.Testing;
using StackExchange.Redis;
using Xunit.Abstractions;
using ZiggyCreatures.Caching.Fusion;

namespace Scaling.Peers.Tests.Cache;

/// <summary>
/// A backplane gap: subscriber B holds a value in L1; its Redis connection stalls (a <see cref="StallingProxy"/>, as
/// when its process is paused) and Redis drops its pub/sub connection (<c>CLIENT KILL</c>) while instance A changes the
/// value, so A's invalidation is published while B is not subscribed. Then B's connection flows again and B
/// resubscribes. What does B serve? (Microsoft's HybridCache has no backplane at all: every other instance serves its
/// L1 copy until it expires, gap or no gap.)
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class BackplaneGapTests(ServersFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    private PeerCacheKit _kit = null!;

    public Task InitializeAsync()
    {
        _kit = new PeerCacheKit(fixture.Servers, "gap");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _kit.DisposeAsync();

    [Fact]
    public async Task Ours_flushes_L1_after_missing_an_invalidation_and_serves_the_new_value()
    {
        await using var proxy = StallingProxy.Start(fixture.Servers.Redis[0].Port);
        var a = await _kit.OursAsync();
        var b = await _kit.OursAsync(proxy.EndPoint + ",name=ours-gap-b");
        var truth = "v1";
        var database = new CountingFactory(() => truth);
        await a.SetAsync("menu", "v1");
        Assert.Equal("v1", await b.GetOrCreateAsync("menu", database.InvokeAsync));

        await MissAnInvalidationAsync(proxy, "ours-gap-b", _kit.Prefix + "backplane", async () =>
        {
            truth = "v2";
            await a.SetAsync("menu", "v2");
        });

        // Resubscribed: B no longer trusts its L1 and reads the new value from Redis.
        await Eventually.TrueAsync(async () => await b.GetOrCreateAsync("menu", database.InvokeAsync) == "v2", TimeSpan.FromSeconds(10), "B serves v2");
        output.WriteLine($"ours: B served v2 right after resubscribing (factory calls: {database.Calls})");
    }

    [Fact]
    public async Task FusionCache_keeps_serving_the_stale_L1_value_after_missing_an_invalidation_until_the_entry_expires()
    {
        var duration = TimeSpan.FromSeconds(10);
        await using var proxy = StallingProxy.Start(fixture.Servers.Redis[0].Port);
        var a = _kit.Fusion(duration);
        var b = _kit.Fusion(duration, proxy.EndPoint, "fusion-gap-b");
        var truth = "v1";
        var database = new CountingFactory(() => truth);
        var cached = Stopwatch.StartNew(); // the entry's lifetime runs from A's write (B copies it from L2)
        await a.SetAsync("menu", "v1");
        Assert.Equal("v1", await b.GetOrSetAsync<string>("menu", (_, ct) => database.InvokeAsync(ct).AsTask()));

        await MissAnInvalidationAsync(proxy, "fusion-gap-b", _kit.FusionCacheName + "*", async () =>
        {
            truth = "v2";
            await a.SetAsync("menu", "v2");
        });

        // Resubscribed, and a later invalidation of another key reaches B: the backplane works again, but nothing told
        // B that it missed one. It still serves v1 from L1.
        await a.SetAsync("other", "x");
        await Task.Delay(500);
        Assert.Equal("v1", await b.GetOrSetAsync<string>("menu", (_, ct) => database.InvokeAsync(ct).AsTask()));
        var staleAfterResubscribe = cached.Elapsed;

        // Only the entry's own expiry (Duration, here 10 s) ends it.
        string seen;
        while ((seen = await b.GetOrSetAsync<string>("menu", (_, ct) => database.InvokeAsync(ct).AsTask())) == "v1" && cached.Elapsed < duration + TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50);
        }

        output.WriteLine($"FusionCache: B served the stale v1 until {cached.Elapsed.TotalSeconds:0.0} s after A wrote it (still stale {staleAfterResubscribe.TotalSeconds:0.0} s in, after resubscribing); its Duration is {duration.TotalSeconds:0} s");
        Assert.Equal("v2", seen); // after the expiry (from L2, or from the factory when B's L2 read fails over)
        output.WriteLine($"FusionCache: factory calls on B: {database.Calls}");
    }

    /// <summary>
    /// Stalls the client named <paramref name="clientName"/>, has Redis drop its pub/sub connection, runs
    /// <paramref name="change"/> (whose backplane message must be published on the one channel matching
    /// <paramref name="pattern"/> while B is not subscribed), then lets B's connection flow again and waits until B has
    /// resubscribed.
    /// </summary>
    private async Task MissAnInvalidationAsync(StallingProxy proxy, string clientName, string pattern, Func<Task> change)
    {
        var channel = RedisChannel.Pattern(pattern);
        var admin = await _kit.AdminAsync();
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        var published = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var observer = admin.GetSubscriber();
        const string Held = "a message B reads only after the stall";
        await observer.SubscribeAsync(channel, (_, message) =>
        {
            if (message != Held)
            {
                published.TrySetResult();
            }
        });
        try
        {
            // B stops reading. One message on its channel is then held by the proxy, so that B does not even see its
            // connection close below (as a paused process would not): it cannot resubscribe until it reads again.
            proxy.Stall();
            var channels = await admin.GetDatabase().ExecuteAsync("PUBSUB", "CHANNELS", pattern);
            var backplane = Assert.Single((RedisResult[])channels!);
            await observer.PublishAsync(RedisChannel.Literal((string)backplane!), Held);
            await Task.Delay(100);
            var subscriptions = (await server.ClientListAsync()).Where(c => c.Name == clientName && c.SubscriptionCount > 0).ToList();
            Assert.NotEmpty(subscriptions);
            foreach (var client in subscriptions)
            {
                await server.ClientKillAsync(client.Id);
            }

            await change();
            await published.Task.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.DoesNotContain(await server.ClientListAsync(), c => c.Name == clientName && c.SubscriptionCount > 0); // B missed it
        }
        finally
        {
            proxy.Resume();
            await observer.UnsubscribeAsync(channel);
        }

        // StackExchange.Redis reconnects with a back-off; on a loaded machine a 1 s connect timeout can be missed once.
        await Eventually.TrueAsync(
            async () => (await server.ClientListAsync()).Any(c => c.Name == clientName && c.SubscriptionCount > 0),
            TimeSpan.FromSeconds(30),
            $"{clientName} resubscribed");
    }
}
