using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

namespace Scaling.Benchmarks.Cache;

/// <summary>
/// The peers as their own documentation sets them up for production, each in its own service provider (as a separate
/// application instance would have), on the same Redis as ours:
/// <list type="bullet">
/// <item>FusionCache 2.x: <c>AddFusionCache()</c> with <c>WithSerializer(new FusionCacheSystemTextJsonSerializer())</c>,
/// <c>WithDistributedCache(new RedisCache(...))</c> (Microsoft.Extensions.Caching.StackExchangeRedis) and
/// <c>WithBackplane(new RedisBackplane(...))</c> (its StackExchange.Redis backplane), a cache key prefix of its own;
/// <c>WaitForInitialBackplaneSubscribe</c> so that a measurement never starts before the backplane listens.</item>
/// <item>Microsoft's HybridCache: <c>AddStackExchangeRedisCache(...)</c> (its L2, with an instance name as key prefix)
/// then <c>AddHybridCache()</c>, the default implementation.</item>
/// </list>
/// Every other option keeps its default.
/// </summary>
internal sealed class PeerCaches : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private PeerCaches(ServiceProvider services) => _services = services;

    /// <summary>The FusionCache instance (when this set holds one).</summary>
    public IFusionCache Fusion => _services.GetRequiredService<IFusionCache>();

    /// <summary>The HybridCache instance (when this set holds one).</summary>
    public HybridCache Hybrid => _services.GetRequiredService<HybridCache>();

    /// <summary>FusionCache with L1 memory, Redis L2 (System.Text.Json) and the Redis backplane.</summary>
    public static PeerCaches FusionCache(string redisConfiguration, string keyPrefix, TimeSpan duration)
    {
        var services = new ServiceCollection();
        services.AddFusionCache()
            .WithOptions(o =>
            {
                o.BackplaneChannelPrefix = keyPrefix.TrimEnd(':');
                o.WaitForInitialBackplaneSubscribe = true;
            })
            .WithCacheKeyPrefix(keyPrefix)
            .WithDefaultEntryOptions(new FusionCacheEntryOptions { Duration = duration })
            .WithSerializer(new FusionCacheSystemTextJsonSerializer())
            .WithDistributedCache(new RedisCache(new RedisCacheOptions { Configuration = redisConfiguration }))
            .WithBackplane(new RedisBackplane(new RedisBackplaneOptions { Configuration = redisConfiguration }));
        return new PeerCaches(services.BuildServiceProvider());
    }

    /// <summary>Microsoft's default HybridCache with Microsoft.Extensions.Caching.StackExchangeRedis as L2.</summary>
    public static PeerCaches HybridCache(string redisConfiguration, string keyPrefix, TimeSpan duration)
    {
        var services = new ServiceCollection();
        services.AddStackExchangeRedisCache(o =>
        {
            o.Configuration = redisConfiguration;
            o.InstanceName = keyPrefix;
        });
        services.AddHybridCache(o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = duration, LocalCacheExpiration = duration });
        return new PeerCaches(services.BuildServiceProvider());
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _services.DisposeAsync();
}
