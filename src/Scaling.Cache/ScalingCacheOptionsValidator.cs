using System.Globalization;
using Microsoft.Extensions.Options;

namespace Scaling.Cache;

/// <summary>Validates <see cref="ScalingCacheOptions"/>; every failure message names the option.</summary>
public sealed class ScalingCacheOptionsValidator : IValidateOptions<ScalingCacheOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ScalingCacheOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(options.RedisConfiguration) && options.ConnectionMultiplexerFactory is null)
        {
            errors.Add("ScalingCacheOptions.RedisConfiguration is required (for example \"127.0.0.1:6379\"), unless ScalingCacheOptions.ConnectionMultiplexerFactory gives the application's own multiplexer.");
        }

        if (string.IsNullOrEmpty(options.KeyPrefix) || options.KeyPrefix.Length > 64 || !CacheKeyValidator.IsValid(options.KeyPrefix))
        {
            errors.Add("ScalingCacheOptions.KeyPrefix must be 1 to 64 printable ASCII characters without spaces.");
        }

        Positive(errors, options.DefaultExpiration, nameof(options.DefaultExpiration));
        Positive(errors, options.MaxLocalExpiration, nameof(options.MaxLocalExpiration));
        Positive(errors, options.FailSafeMaxDuration, nameof(options.FailSafeMaxDuration));
        Positive(errors, options.FailSafeThrottleDuration, nameof(options.FailSafeThrottleDuration));
        Positive(errors, options.DistributedCacheTimeout, nameof(options.DistributedCacheTimeout));
        Positive(errors, options.CircuitBreakDuration, nameof(options.CircuitBreakDuration));
        PositiveOrInfinite(errors, options.FactorySoftTimeout, nameof(options.FactorySoftTimeout));
        PositiveOrInfinite(errors, options.FactoryHardTimeout, nameof(options.FactoryHardTimeout));
        if (options.LocalCacheSizeLimit < 1)
        {
            errors.Add(Invariant($"ScalingCacheOptions.LocalCacheSizeLimit must be at least 1; it was {options.LocalCacheSizeLimit}."));
        }

        if (options.EagerRefreshThreshold is { } threshold && !(threshold > 0 && threshold < 1))
        {
            errors.Add(Invariant($"ScalingCacheOptions.EagerRefreshThreshold must be between 0 and 1 (exclusive) or null; it was {threshold}."));
        }

        if (!(options.ExpirationJitter >= 0 && options.ExpirationJitter <= 0.5))
        {
            errors.Add(Invariant($"ScalingCacheOptions.ExpirationJitter must be from 0 to 0.5; it was {options.ExpirationJitter}."));
        }

        if (options.MaxKeyLength < 1 || options.MaxKeyLength > 4096)
        {
            errors.Add(Invariant($"ScalingCacheOptions.MaxKeyLength must be from 1 to 4096; it was {options.MaxKeyLength}."));
        }

        if (options.MaxPayloadBytes < 1 || options.MaxPayloadBytes > 512 * 1024 * 1024)
        {
            errors.Add(Invariant($"ScalingCacheOptions.MaxPayloadBytes must be from 1 to 536870912 (Redis' string limit); it was {options.MaxPayloadBytes}."));
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Positive(List<string> errors, TimeSpan value, string option)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add(Invariant($"ScalingCacheOptions.{option} must be positive; it was {value}."));
        }
    }

    private static void PositiveOrInfinite(List<string> errors, TimeSpan value, string option)
    {
        if (value <= TimeSpan.Zero && value != Timeout.InfiniteTimeSpan)
        {
            errors.Add(Invariant($"ScalingCacheOptions.{option} must be positive or Timeout.InfiniteTimeSpan; it was {value}."));
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
