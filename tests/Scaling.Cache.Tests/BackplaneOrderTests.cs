using System.Globalization;
using Scaling.Testing;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Scaling.Cache.Tests;

/// <summary>
/// The backplane is read in the order Redis delivers it (StackExchange.Redis 2.x and later run plain subscription
/// handlers concurrently): no false gaps, so no needless L1 flushes; and a real gap still flushes.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class BackplaneOrderTests(ServersFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    private CacheTestKit _kit = null!;

    public Task InitializeAsync()
    {
        _kit = new CacheTestKit(fixture.Servers, "order");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _kit.DisposeAsync();

    [Fact]
    public async Task Fifty_thousand_messages_from_one_instance_arrive_in_order_at_another_and_flush_nothing()
    {
        const int Messages = 50_000;
        const int Writers = 16;
        var a = await CacheTestKit.ReadyAsync(_kit.Create(out var aMetrics));
        var b = await CacheTestKit.ReadyAsync(_kit.Create(out var bMetrics));

        // Sixteen writers at once on A: A numbers its messages in the order it sends them.
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            for (var i = w; i < Messages; i += Writers)
            {
                await a.SetAsync("k" + (i % 500).ToString(CultureInfo.InvariantCulture), i);
            }
        })));
        Assert.Equal(Messages, aMetrics["scaling.cache.backplane.messages|direction=sent"]);

        await Eventually.TrueAsync(
            () => Task.FromResult(bMetrics["scaling.cache.backplane.messages|direction=received"] >= Messages),
            TimeSpan.FromSeconds(60),
            $"B received all {Messages} messages (so far {bMetrics["scaling.cache.backplane.messages|direction=received"]})");
        output.WriteLine($"B received {bMetrics["scaling.cache.backplane.messages|direction=received"]}, out of order {bMetrics["scaling.cache.backplane.out_of_order"]}, flushes {bMetrics["scaling.cache.backplane.flushes"]}");
        Assert.Equal(0, bMetrics["scaling.cache.backplane.out_of_order"]);
        Assert.Equal(0, bMetrics["scaling.cache.backplane.flushes"]);
        Assert.Equal(Messages, bMetrics["scaling.cache.backplane.messages|direction=received"]);
    }

    [Fact]
    public async Task A_subscriber_that_stops_reading_past_Redis_output_limit_is_dropped_and_flushes_L1_when_it_reads_again()
    {
        var redis = fixture.Servers.Redis[0];
        await using var admin = await ConnectionMultiplexer.ConnectAsync(redis.EndPoint + ",allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        var limit = (await server.ConfigGetAsync("client-output-buffer-limit")).Single().Value;
        await using var proxy = StallingProxy.Start(redis.Port);
        try
        {
            // A pub/sub client that does not read 1 MB is dropped by Redis (the default allows 32 MB).
            await server.ConfigSetAsync("client-output-buffer-limit", "pubsub 1mb 512kb 1");
            var a = await _kit.CreateReadyAsync();
            var b = await CacheTestKit.ReadyAsync(_kit.Create(out var bMetrics, o => o.RedisConfiguration = proxy.EndPoint + ",name=stalled-subscriber,connectTimeout=1000"));
            // The factory reads the source of truth (as a database would): whichever way B refills, it gets the truth.
            var truth = "v1";
            var database = new CountingFactory<string>(_ => truth);
            await a.SetAsync("menu", "v1");
            Assert.Equal("v1", await b.GetOrCreateAsync("menu", database.InvokeAsync));

            // B stops reading (as if its process were paused) while another publisher sends 24 MB on the backplane.
            proxy.Stall();
            var subscriber = admin.GetSubscriber();
            var channel = RedisChannel.Literal(_kit.Prefix + "backplane");
            var key = new string('x', 1000);
            for (var batch = 0; batch < 24; batch++)
            {
                await Task.WhenAll(Enumerable.Range(0, 1000).Select(i =>
                    subscriber.PublishAsync(channel, $"1|other-instance|{(batch * 1000) + i + 1}|K|{key}")));
            }

            truth = "v2";
            await a.SetAsync("menu", "v2"); // B cannot see this invalidation: Redis drops its subscription
            await Eventually.TrueAsync(
                async () => !(await server.ClientListAsync()).Any(c => c.Name == "stalled-subscriber" && c.SubscriptionCount > 0),
                TimeSpan.FromSeconds(20),
                "Redis dropped B's subscription for its unread output");

            // B reads again: its subscription is gone, it reconnects and no longer trusts its L1.
            proxy.Resume();
            // Within seconds here; 60 s because on a loaded CI machine a reconnect attempt can miss its 1 s connect
            // timeout, and StackExchange.Redis then waits a growing back-off before the next one.
            await Eventually.TrueAsync(
                () => Task.FromResult(bMetrics["scaling.cache.backplane.flushes|reason=reconnect"] >= 1),
                TimeSpan.FromSeconds(60),
                "B flushed L1 after its subscription was restored");
            Assert.Equal("v2", await b.GetOrCreateAsync("menu", database.InvokeAsync));
        }
        finally
        {
            proxy.Resume();
            await server.ConfigSetAsync("client-output-buffer-limit", limit);
        }
    }

    [Fact]
    public async Task A_killed_subscription_reconnects_and_flushes_L1()
    {
        var redis = fixture.Servers.Redis[0];
        await using var admin = await ConnectionMultiplexer.ConnectAsync(redis.EndPoint + ",allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        var a = await _kit.CreateReadyAsync();
        var b = await CacheTestKit.ReadyAsync(_kit.Create(out var bMetrics, o => o.RedisConfiguration = redis.EndPoint + ",name=killed-subscriber,connectTimeout=1000"));
        var truth = "v1";
        var database = new CountingFactory<string>(_ => truth);
        await a.SetAsync("menu", "v1");
        Assert.Equal("v1", await b.GetOrCreateAsync("menu", database.InvokeAsync));

        foreach (var client in (await server.ClientListAsync()).Where(c => c.Name == "killed-subscriber" && c.SubscriptionCount > 0))
        {
            await server.ClientKillAsync(client.Id);
        }

        await Eventually.TrueAsync(
            () => Task.FromResult(bMetrics["scaling.cache.backplane.flushes|reason=reconnect"] >= 1),
            TimeSpan.FromSeconds(20),
            "B flushed L1 after its subscription was restored");
        truth = "v2";
        await a.SetAsync("menu", "v2");
        Assert.Equal("v2", await b.GetOrCreateAsync("menu", database.InvokeAsync));
    }
}
