using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Scaling.Cache;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

namespace Scaling.Peers.Tests.Cache;

/// <summary>
/// Instances of ours and of the peers over the first test Redis, each test in its own key space (and, for FusionCache,
/// its own backplane channel), each instance on its own connections as a separate application
/// instance would be. The peers are set up as their docs show for production:
/// FusionCache with <c>AddFusionCache().WithSerializer(FusionCacheSystemTextJsonSerializer).WithDistributedCache(RedisCache)
/// .WithBackplane(RedisBackplane)</c>; Microsoft's HybridCache with <c>AddStackExchangeRedisCache</c> then
/// <c>AddHybridCache()</c>.
/// </summary>
internal sealed class PeerCacheKit : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];
    private ConnectionMultiplexer? _admin;

    public PeerCacheKit(Testing.TestServers servers, string test)
    {
        Servers = servers;
        Prefix = "peers-" + test + "-" + Guid.NewGuid().ToString("N")[..8] + ":";
    }

    public Testing.TestServers Servers { get; }

    /// <summary>The key prefix of this test (also FusionCache's cache name, so its backplane channel is the test's own).</summary>
    public string Prefix { get; }

    /// <summary>The test Redis's endpoint.</summary>
    public string Redis => Servers.Redis[0].EndPoint;

    /// <summary>Our cache; <paramref name="redisConfiguration"/> (default: the test Redis) may point at a proxy.</summary>
    public async Task<TwoTierCache> OursAsync(string? redisConfiguration = null)
    {
        var cache = new TwoTierCache(Options.Create(new ScalingCacheOptions
        {
            RedisConfiguration = (redisConfiguration ?? Redis) + ",connectTimeout=1000",
            KeyPrefix = Prefix,
            DistributedCacheTimeout = TimeSpan.FromSeconds(2), // behaviour, not latency: a busy machine must not trip the breaker
        }));
        _owned.Add(cache);
        await Testing.Eventually.TrueAsync(() => Task.FromResult(cache.IsBackplaneConnected), TimeSpan.FromSeconds(10), "our backplane subscribed");
        await Task.Delay(50); // the start-up flush runs right after the subscription
        return cache;
    }

    /// <summary>
    /// A FusionCache instance (L1 + Redis L2 + Redis backplane) whose entries last <paramref name="duration"/>;
    /// <paramref name="endPoint"/> (default: the test Redis) may be a proxy's, and <paramref name="clientName"/> names
    /// the backplane's connections (the L2's get the name with "-l2").
    /// </summary>
    public IFusionCache Fusion(TimeSpan duration, string? endPoint = null, string? clientName = null)
    {
        var configuration = (endPoint ?? Redis) + ",connectTimeout=1000";
        var l2Configuration = clientName is null ? configuration : configuration + ",name=" + clientName + "-l2";
        configuration = clientName is null ? configuration : configuration + ",name=" + clientName;
        var services = new ServiceCollection();
        services.AddFusionCache()
            .WithOptions(o =>
            {
                o.BackplaneChannelPrefix = FusionCacheName;
                o.WaitForInitialBackplaneSubscribe = true;
            })
            .WithCacheKeyPrefix(Prefix)
            .WithDefaultEntryOptions(new FusionCacheEntryOptions { Duration = duration })
            .WithSerializer(new FusionCacheSystemTextJsonSerializer())
            .WithDistributedCache(new RedisCache(new RedisCacheOptions { Configuration = l2Configuration }))
            .WithBackplane(new RedisBackplane(new RedisBackplaneOptions { Configuration = configuration }));
        var provider = services.BuildServiceProvider();
        _owned.Add(provider);
        return provider.GetRequiredService<IFusionCache>();
    }

    /// <summary>The backplane channel prefix of this test's FusionCache instances.</summary>
    public string FusionCacheName => Prefix.TrimEnd(':');

    /// <summary>A Microsoft HybridCache instance (the default implementation) with Redis as L2.</summary>
    public HybridCache Hybrid(TimeSpan duration)
    {
        var services = new ServiceCollection();
        services.AddStackExchangeRedisCache(o =>
        {
            o.Configuration = Redis;
            o.InstanceName = Prefix;
        });
        services.AddHybridCache(o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = duration, LocalCacheExpiration = duration });
        var provider = services.BuildServiceProvider();
        _owned.Add(provider);
        return provider.GetRequiredService<HybridCache>();
    }

    /// <summary>An admin connection to the test Redis (client list, client kill, pub/sub).</summary>
    public async Task<ConnectionMultiplexer> AdminAsync() =>
        _admin ??= await ConnectionMultiplexer.ConnectAsync(Redis + ",allowAdmin=true,connectTimeout=2000,syncTimeout=2000");

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }

        if (_admin is not null)
        {
            await _admin.DisposeAsync();
        }
    }
}
