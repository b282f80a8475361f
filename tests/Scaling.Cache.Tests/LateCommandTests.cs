using System.Text;
using Scaling.Testing;
using StackExchange.Redis;

namespace Scaling.Cache.Tests;

/// <summary>
/// No late cache writes: a write the cache gave up on (Redis paused or down; the breaker opened and the key waits for
/// its replay) is refused by Redis if it arrives later, so it can never overwrite what was written after it. On the
/// cache's own connection and on an application multiplexer with StackExchange.Redis's default backlog.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class LateCommandTests(ServersFixture fixture) : IAsyncLifetime
{
    private CacheTestKit _kit = null!;

    public Task InitializeAsync()
    {
        _kit = new CacheTestKit(fixture.Servers, "late");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _kit.DisposeAsync();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_write_given_up_while_Redis_was_paused_is_refused_when_Redis_reads_it(bool applicationMultiplexer)
    {
        var redis = fixture.Servers.Redis[0];
        await using var app = applicationMultiplexer ? await ConnectionMultiplexer.ConnectAsync(redis.EndPoint + ",abortConnect=false,name=app") : null;
        var a = await CacheTestKit.ReadyAsync(_kit.Create(out var metrics, o => Configure(o, app)));
        var raw = await _kit.RawAsync();
        await using var admin = await ConnectionMultiplexer.ConnectAsync(redis.EndPoint + ",abortConnect=false,allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        // The starting point: Redis holds the old value and the cache uses it. On a busy machine the first write (a
        // fresh connection's first script) can itself outlast the 300 ms timeout and open the breaker; the write under
        // test would then never be sent, and there would be nothing late for Redis to refuse.
        await Eventually.TrueAsync(
            async () =>
            {
                await a.SetAsync("price", "old-value");
                var held = (byte[]?)await raw.StringGetAsync(_kit.Prefix + "price");
                return a.IsDistributedCacheAvailable && held is not null && Encoding.UTF8.GetString(held).Contains("old-value", StringComparison.Ordinal);
            },
            TimeSpan.FromSeconds(15),
            "the cache wrote the old value to Redis");
        var refusedBefore = await LateRefusalsAsync(server);
        try
        {
            await redis.PauseAsync();
            await a.SetAsync("price", "new-value"); // L1 has it; the L2 write times out and the breaker opens
            Assert.False(a.IsDistributedCacheAvailable);
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
        finally
        {
            await redis.ResumeAsync();
        }

        await Eventually.TrueAsync(() => Task.FromResult(a.IsDistributedCacheAvailable), TimeSpan.FromSeconds(20), "the cache uses Redis again");
        await Task.Delay(TimeSpan.FromMilliseconds(500)); // the replay of the given-up write (a tombstone) has run
        Assert.True(await LateRefusalsAsync(server) > refusedBefore, "Redis refused the late write");
        var stored = (byte[]?)await raw.StringGetAsync(_kit.Prefix + "price");
        Assert.False(stored is not null && Encoding.UTF8.GetString(stored).Contains("new-value", StringComparison.Ordinal), "L2 holds the write the cache had given up on");
        Assert.True(metrics["scaling.cache.l2.errors"] >= 1);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_write_given_up_while_Redis_was_down_is_not_written_when_it_is_back(bool applicationMultiplexer)
    {
        var redis = fixture.Servers.Redis[0];
        await using var app = applicationMultiplexer ? await ConnectionMultiplexer.ConnectAsync(redis.EndPoint + ",abortConnect=false,connectTimeout=1000,name=app") : null;
        var a = await CacheTestKit.ReadyAsync(_kit.Create(o => Configure(o, app)));
        var b = await _kit.CreateReadyAsync();
        try
        {
            await redis.KillAsync();
            await a.SetAsync("menu", "given-up-value");
        }
        finally
        {
            await redis.RestartAsync();
        }

        // Another instance writes after the outage; A's given-up write must never land on top of it.
        await Eventually.TrueAsync(() => Task.FromResult(b.IsDistributedCacheAvailable && a.IsDistributedCacheAvailable), TimeSpan.FromSeconds(15), "both caches use Redis again");
        await b.SetAsync("menu", "newer-value");
        await Task.Delay(TimeSpan.FromSeconds(1));
        var raw = await _kit.RawAsync();
        var stored = (byte[]?)await raw.StringGetAsync(_kit.Prefix + "menu");
        Assert.False(stored is not null && Encoding.UTF8.GetString(stored).Contains("given-up-value", StringComparison.Ordinal), "L2 holds the write the cache had given up on");
    }

    private static void Configure(ScalingCacheOptions options, IConnectionMultiplexer? app)
    {
        options.DistributedCacheTimeout = TimeSpan.FromMilliseconds(300);
        if (app is not null)
        {
            options.ConnectionMultiplexerFactory = () => Task.FromResult(app);
        }
    }

    /// <summary>How many writes Redis has refused as late so far (<c>INFO errorstats</c>, error prefix LATE).</summary>
    private static async Task<long> LateRefusalsAsync(IServer server)
    {
        var stats = (await server.InfoAsync("errorstats")).SelectMany(g => g).FirstOrDefault(p => p.Key == "errorstat_LATE").Value;
        return stats is null ? 0 : long.Parse(stats["count=".Length..].Split(',')[0], System.Globalization.CultureInfo.InvariantCulture);
    }
}
