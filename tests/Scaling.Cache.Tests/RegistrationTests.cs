using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Scaling.Testing;

namespace Scaling.Cache.Tests;

[Collection(ServersCollection.Name)]
public sealed class RegistrationTests(ServersFixture fixture)
{
    [Fact]
    public async Task AddScalingCache_registers_one_TwoTierCache_as_HybridCache()
    {
        var services = new ServiceCollection();
        services.AddScalingCache(o => o.RedisConfiguration = fixture.Servers.Redis[0].EndPoint);
        await using var provider = services.BuildServiceProvider();

        var hybrid = provider.GetRequiredService<HybridCache>();
        Assert.Same(provider.GetRequiredService<TwoTierCache>(), hybrid);
        Assert.Equal(7, await hybrid.GetOrCreateAsync("registration:" + Guid.NewGuid().ToString("N"), _ => ValueTask.FromResult(7)));
    }

    [Fact]
    public async Task AddScalingCache_returns_the_services_and_a_second_call_registers_nothing_twice()
    {
        var services = new ServiceCollection();

        var returned = services.AddScalingCache(o => o.RedisConfiguration = fixture.Servers.Redis[0].EndPoint);
        var count = services.Count;
        services.AddScalingCache(o => o.KeyPrefix = "second-call:");

        Assert.Same(services, returned);
        Assert.Single(services, d => d.ServiceType == typeof(TwoTierCache));
        Assert.Single(services, d => d.ServiceType == typeof(HybridCache));
        Assert.Single(services, d => d.ServiceType == typeof(IValidateOptions<ScalingCacheOptions>));
        // The second call adds only options plumbing: its configure action (and ValidateOnStart's, keyed by options type and name).
        Assert.All(services.Skip(count), d => Assert.True(d.ServiceType.IsGenericType && d.ServiceType.GetGenericTypeDefinition() == typeof(IConfigureOptions<>), d.ServiceType.Name));
        await using var provider = services.BuildServiceProvider();
        Assert.Equal("second-call:", provider.GetRequiredService<IOptions<ScalingCacheOptions>>().Value.KeyPrefix);
        Assert.Equal(fixture.Servers.Redis[0].EndPoint, provider.GetRequiredService<IOptions<ScalingCacheOptions>>().Value.RedisConfiguration);
    }

    [Fact]
    public async Task A_synchronously_disposed_container_disposes_the_cache_without_blocking_on_Redis()
    {
        var services = new ServiceCollection();
        services.AddScalingCache(o => o.RedisConfiguration = fixture.Servers.Redis[0].EndPoint);
        var provider = services.BuildServiceProvider();
        var cache = provider.GetRequiredService<TwoTierCache>();
        await Eventually.TrueAsync(() => Task.FromResult(cache.IsBackplaneConnected), TimeSpan.FromSeconds(10), "connected");

        provider.Dispose();

        Assert.False(cache.IsDistributedCacheAvailable);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await cache.GetOrCreateAsync("after-dispose", _ => ValueTask.FromResult(1)));
    }

    [Theory]
    [InlineData("RedisConfiguration", "ScalingCacheOptions.RedisConfiguration is required")]
    [InlineData("DefaultExpiration", "ScalingCacheOptions.DefaultExpiration must be positive")]
    [InlineData("EagerRefreshThreshold", "ScalingCacheOptions.EagerRefreshThreshold must be between 0 and 1")]
    [InlineData("ExpirationJitter", "ScalingCacheOptions.ExpirationJitter must be from 0 to 0.5")]
    [InlineData("LocalCacheSizeLimit", "ScalingCacheOptions.LocalCacheSizeLimit must be at least 1")]
    [InlineData("FactorySoftTimeout", "ScalingCacheOptions.FactorySoftTimeout must be positive or Timeout.InfiniteTimeSpan")]
    [InlineData("KeyPrefix", "ScalingCacheOptions.KeyPrefix must be 1 to 64 printable ASCII")]
    [InlineData("MaxPayloadBytes", "ScalingCacheOptions.MaxPayloadBytes must be from 1")]
    public void Invalid_options_fail_naming_the_option(string option, string message)
    {
        var services = new ServiceCollection();
        services.AddScalingCache(o =>
        {
            o.RedisConfiguration = "127.0.0.1:1";
            switch (option)
            {
                case "RedisConfiguration": o.RedisConfiguration = " "; break;
                case "DefaultExpiration": o.DefaultExpiration = TimeSpan.Zero; break;
                case "EagerRefreshThreshold": o.EagerRefreshThreshold = 1.5; break;
                case "ExpirationJitter": o.ExpirationJitter = -0.1; break;
                case "LocalCacheSizeLimit": o.LocalCacheSizeLimit = 0; break;
                case "FactorySoftTimeout": o.FactorySoftTimeout = TimeSpan.FromSeconds(-2); break;
                case "KeyPrefix": o.KeyPrefix = "has space"; break;
                case "MaxPayloadBytes": o.MaxPayloadBytes = 0; break;
            }
        });
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<ScalingCacheOptions>>().Value);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<TwoTierCache>());
    }

    [Fact]
    public void A_cache_built_outside_DI_runs_the_validator_and_names_the_option()
    {
        var options = new ScalingCacheOptions { RedisConfiguration = "127.0.0.1:1", FailSafeMaxDuration = TimeSpan.Zero, MaxKeyLength = 0 };

        var error = Assert.Throws<OptionsValidationException>(() => new TwoTierCache(Options.Create(options)));

        Assert.Contains("ScalingCacheOptions.FailSafeMaxDuration must be positive", error.Message, StringComparison.Ordinal);
        Assert.Contains("ScalingCacheOptions.MaxKeyLength must be from 1 to 4096", error.Message, StringComparison.Ordinal);
    }
}
