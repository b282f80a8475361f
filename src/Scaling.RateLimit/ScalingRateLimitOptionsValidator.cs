using System.Globalization;
using Microsoft.Extensions.Options;

namespace Scaling.RateLimit;

/// <summary>
/// Validates <see cref="ScalingRateLimitOptions"/>; every message names the option it is about. Registered by
/// <see cref="Microsoft.Extensions.DependencyInjection.ScalingRateLimitServiceCollectionExtensions.AddScalingRateLimit"/> with validation on start.
/// </summary>
public sealed class ScalingRateLimitOptionsValidator : IValidateOptions<ScalingRateLimitOptions>
{
    private const int MaxReservedPermits = 1_000_000;
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan MaxWindow = TimeSpan.FromDays(366);

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ScalingRateLimitOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = Failures(options);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    internal static List<string> Failures(ScalingRateLimitOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.RedisConfiguration) && options.ConnectionMultiplexerFactory is null)
        {
            failures.Add("ScalingRateLimitOptions.RedisConfiguration is empty: set the StackExchange.Redis configuration string of the Redis that holds the counters, e.g. host:6379, or give the application's own multiplexer in ScalingRateLimitOptions.ConnectionMultiplexerFactory.");
        }

        if (options.KeyPrefix is null || options.KeyPrefix.Length > ScalingRateLimitOptions.MaxKeyPrefixLength || options.KeyPrefix.AsSpan().IndexOfAny('{', '}') >= 0)
        {
            failures.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"ScalingRateLimitOptions.KeyPrefix must be a string of at most {ScalingRateLimitOptions.MaxKeyPrefixLength} characters without '{{' or '}}' (the keys' hash tag follows it)."));
        }

        // Every policy by the option that holds it; two policies with one name must be the same policy (the name is part of the key).
        var policies = new List<(string Option, RateLimitTier? Policy)>
        {
            ("ScalingRateLimitOptions.AnonymousTier", options.AnonymousTier),
            ("ScalingRateLimitOptions.AuthenticatedTier", options.AuthenticatedTier),
        };
        foreach (var (planName, plan) in options.Plans)
        {
            var option = $"ScalingRateLimitOptions.Plans[{DisplayText.Quote(planName ?? string.Empty)}]";
            if (string.IsNullOrWhiteSpace(planName))
            {
                failures.Add("ScalingRateLimitOptions.Plans holds a plan without a name.");
            }

            if (plan is null)
            {
                failures.Add($"{option} is null.");
                continue;
            }

            policies.Add(($"{option}.Tier", plan.Tier));
            if (plan.TenantQuota is not null)
            {
                policies.Add(($"{option}.TenantQuota", plan.TenantQuota));
            }
        }

        if (options.Burst is not null)
        {
            policies.Add(("ScalingRateLimitOptions.Burst", options.Burst));
        }

        foreach (var (prefix, policy) in options.EndpointPolicies)
        {
            var option = $"ScalingRateLimitOptions.EndpointPolicies[{DisplayText.Quote(prefix ?? string.Empty)}]";
            if (prefix is null || !prefix.StartsWith('/'))
            {
                failures.Add($"{option}: the key must be a request path prefix starting with '/'.");
            }

            policies.Add((option, policy));
        }

        var byName = new Dictionary<string, (string Option, RateLimitTier Policy)>(StringComparer.Ordinal);
        foreach (var (option, policy) in policies)
        {
            if (policy is null)
            {
                failures.Add($"{option} is null.");
                continue;
            }

            if (policy.Window > MaxWindow)
            {
                failures.Add($"{option} has a window of {policy.Window}; the longest supported is {MaxWindow}.");
            }

            if (byName.TryGetValue(policy.Name, out var other) && other.Policy != policy)
            {
                failures.Add($"{option} and {other.Option} are different policies with the same name {DisplayText.Quote(policy.Name)}: policy names must be unique (the name is part of the Redis key and of the headers).");
            }
            else
            {
                byName[policy.Name] = (option, policy);
            }
        }

        if (options.UserIdClaimTypes.Count == 0 || options.UserIdClaimTypes.Any(string.IsNullOrWhiteSpace))
        {
            failures.Add("ScalingRateLimitOptions.UserIdClaimTypes must hold at least one claim type, none of them empty.");
        }

        if (options.ApiKeyHeaderName is not null && options.ApiKeyValidator is null)
        {
            failures.Add("ScalingRateLimitOptions.ApiKeyValidator is required when ScalingRateLimitOptions.ApiKeyHeaderName is set: an unchecked API key would let a client mint new partitions at will.");
        }

        if (options.ApiKeyHeaderName is { } header && string.IsNullOrWhiteSpace(header))
        {
            failures.Add("ScalingRateLimitOptions.ApiKeyHeaderName is blank: set a header name, or null to ignore API keys.");
        }

        if (string.IsNullOrWhiteSpace(options.ForwardedForHeaderName))
        {
            failures.Add("ScalingRateLimitOptions.ForwardedForHeaderName is empty.");
        }

        foreach (var proxy in options.TrustedProxies)
        {
            if (!ClientAddressResolver.TryParseNetwork(proxy, out _))
            {
                failures.Add($"ScalingRateLimitOptions.TrustedProxies holds {DisplayText.Quote(proxy ?? string.Empty)}, which is neither an IP address nor a CIDR range such as 10.0.0.0/8.");
            }
        }

        if (options.IPv6PrefixLength is < 1 or > 128)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"ScalingRateLimitOptions.IPv6PrefixLength must be from 1 to 128; it was {options.IPv6PrefixLength}."));
        }

        if (options.ExpectedInstanceCount < 1)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"ScalingRateLimitOptions.ExpectedInstanceCount must be at least 1; it was {options.ExpectedInstanceCount}."));
        }

        if (options.RedisTimeout < TimeSpan.FromMilliseconds(1) || options.RedisTimeout > MaxTimeout)
        {
            failures.Add($"ScalingRateLimitOptions.RedisTimeout must be from 1 ms to {MaxTimeout}; it was {options.RedisTimeout}.");
        }

        if (options.BreakerFailureThreshold < 1)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"ScalingRateLimitOptions.BreakerFailureThreshold must be at least 1; it was {options.BreakerFailureThreshold}."));
        }

        if (options.BreakDuration < TimeSpan.FromMilliseconds(1) || options.BreakDuration > TimeSpan.FromHours(1))
        {
            failures.Add($"ScalingRateLimitOptions.BreakDuration must be from 1 ms to 1 hour; it was {options.BreakDuration}.");
        }

        if (options.MaxLocalFallbackKeys < 1)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"ScalingRateLimitOptions.MaxLocalFallbackKeys must be at least 1; it was {options.MaxLocalFallbackKeys}."));
        }

        if (options.MaxReservedPermits is < 0 or > MaxReservedPermits)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"ScalingRateLimitOptions.MaxReservedPermits must be from 0 to {MaxReservedPermits}; it was {options.MaxReservedPermits}."));
        }

        return failures;
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every failure, if there is any.</summary>
    internal static void ThrowIfInvalid(ScalingRateLimitOptions options)
    {
        var failures = Failures(options);
        if (failures.Count > 0)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(ScalingRateLimitOptions), failures);
        }
    }
}
