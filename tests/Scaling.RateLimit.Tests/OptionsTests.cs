using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Scaling.RateLimit.Tests;

/// <summary>Bad options fail at start-up with messages that name the option; nothing here reaches Redis.</summary>
public sealed class OptionsTests
{
    [Fact]
    public void Defaults_are_valid_once_redis_is_set_and_hold_the_three_tiers()
    {
        var options = new ScalingRateLimitOptions { RedisConfiguration = "127.0.0.1:1" };

        Assert.Empty(ScalingRateLimitOptionsValidator.Failures(options));
        Assert.Equal(RateLimitTiers.Anonymous, options.AnonymousTier);
        Assert.Equal(RateLimitTiers.Authenticated, options.AuthenticatedTier);
        Assert.Equal(RateLimitTiers.Premium, options.Plans["PREMIUM"].Tier);
        Assert.Equal(RateLimitAlgorithm.SlidingWindowCounter, RateLimitTiers.Anonymous.Algorithm);
        Assert.Equal(RateLimitFailureMode.LocalFallback, RateLimitTiers.Anonymous.WhenRedisUnavailable);
    }

    [Fact]
    public void Every_bad_option_is_named()
    {
        var options = new ScalingRateLimitOptions
        {
            KeyPrefix = "bad{prefix}",
            ExpectedInstanceCount = 0,
            RedisTimeout = TimeSpan.Zero,
            BreakDuration = TimeSpan.FromHours(2),
            BreakerFailureThreshold = 0,
            IPv6PrefixLength = 129,
            MaxLocalFallbackKeys = 0,
            MaxReservedPermits = -1,
            ApiKeyHeaderName = "X-Api-Key",
            AnonymousTier = null!,
        };
        options.TrustedProxies.Add("10.0.0.0/33");
        options.TrustedProxies.Add("proxy.example");
        options.EndpointPolicies["search"] = new RateLimitTier("search", 1, TimeSpan.FromSeconds(1));
        options.Plans["gold"] = new RateLimitPlan(new RateLimitTier("authenticated", 7, TimeSpan.FromSeconds(1)));

        var failures = string.Join("\n", ScalingRateLimitOptionsValidator.Failures(options));

        foreach (var expected in new[]
        {
            "ScalingRateLimitOptions.RedisConfiguration is empty",
            "ScalingRateLimitOptions.KeyPrefix must be",
            "ScalingRateLimitOptions.ExpectedInstanceCount must be at least 1; it was 0.",
            "ScalingRateLimitOptions.RedisTimeout must be from 1 ms",
            "ScalingRateLimitOptions.BreakDuration must be from 1 ms to 1 hour",
            "ScalingRateLimitOptions.BreakerFailureThreshold must be at least 1; it was 0.",
            "ScalingRateLimitOptions.IPv6PrefixLength must be from 1 to 128; it was 129.",
            "ScalingRateLimitOptions.MaxLocalFallbackKeys must be at least 1",
            "ScalingRateLimitOptions.MaxReservedPermits must be from 0 to 1000000; it was -1.",
            "ScalingRateLimitOptions.ApiKeyValidator is required when ScalingRateLimitOptions.ApiKeyHeaderName is set",
            "ScalingRateLimitOptions.AnonymousTier is null.",
            "ScalingRateLimitOptions.TrustedProxies holds '10.0.0.0/33'",
            "ScalingRateLimitOptions.TrustedProxies holds 'proxy.example'",
            "ScalingRateLimitOptions.EndpointPolicies['search']: the key must be a request path prefix starting with '/'",
            "ScalingRateLimitOptions.Plans['gold'].Tier and ScalingRateLimitOptions.AuthenticatedTier are different policies with the same name 'authenticated'",
        })
        {
            Assert.Contains(expected, failures, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_limiter_rejects_invalid_options_naming_them()
    {
        var exception = Assert.Throws<OptionsValidationException>(() => new RedisRateLimiter(Options.Create(new ScalingRateLimitOptions { RedisConfiguration = "127.0.0.1:1", ExpectedInstanceCount = -3 })));

        Assert.Equal(typeof(ScalingRateLimitOptions), exception.OptionsType);
        Assert.Contains("ScalingRateLimitOptions.ExpectedInstanceCount must be at least 1; it was -3.", exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 60, "Rate-limit tier 'anonymous': A rate-limit tier's permit limit must be at least 1; it was 0.")]
    [InlineData(-5, 60, "permit limit must be at least 1; it was -5.")]
    [InlineData(100, 0, "Rate-limit tier 'anonymous': A rate-limit tier's window must be a whole number of seconds, at least one second")]
    public async Task Non_positive_limits_and_windows_fail_at_start_up_naming_the_option(int limit, int windowSeconds, string expected)
    {
        using var host = new HostBuilder()
            .ConfigureServices(services => services.AddScalingRateLimit(o =>
            {
                o.RedisConfiguration = "127.0.0.1:1";
                o.AnonymousTier = RateLimitTiers.Anonymous with { PermitLimit = limit, Window = TimeSpan.FromSeconds(windowSeconds) };
            }))
            .Build();

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("ScalingRateLimitOptions", exception.Message, StringComparison.Ordinal);
        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_options_fail_at_start_up()
    {
        using var host = new HostBuilder()
            .ConfigureServices(services => services.AddScalingRateLimit(o => o.ExpectedInstanceCount = 0))
            .Build();

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("ScalingRateLimitOptions.RedisConfiguration is empty", exception.Message, StringComparison.Ordinal);
        Assert.Contains("ScalingRateLimitOptions.ExpectedInstanceCount must be at least 1; it was 0.", exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("plain-user_1.x:y", "plain-user_1.x:y")]
    [InlineData("", null)]
    [InlineData("has space", null)]
    [InlineData("{tag}", null)]
    public void Key_parts_keep_short_plain_values_and_hash_everything_else(string value, string? expected)
    {
        var safe = KeyPart.Safe(value);

        if (expected is not null)
        {
            Assert.Equal(expected, safe);
        }
        else
        {
            Assert.Matches("^#[0-9a-f]{24}$", safe);
        }

        Assert.Matches("^#[0-9a-f]{24}$", KeyPart.Safe(new string('a', KeyPart.MaxPlainLength + 1)));
        Assert.NotEqual(KeyPart.Hash("a"), KeyPart.Hash("b"));
    }
}
