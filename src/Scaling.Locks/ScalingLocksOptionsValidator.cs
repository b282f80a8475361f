using System.Globalization;
using Microsoft.Extensions.Options;

namespace Scaling.Locks;

/// <summary>
/// Validates <see cref="ScalingLocksOptions"/>; every message names the option it is about. Registered by
/// <see cref="Microsoft.Extensions.DependencyInjection.ScalingLocksServiceCollectionExtensions.AddScalingLocks"/> with validation on start.
/// </summary>
public sealed class ScalingLocksOptionsValidator : IValidateOptions<ScalingLocksOptions>
{
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromMinutes(5);

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ScalingLocksOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = Failures(options);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    internal static List<string> Failures(ScalingLocksOptions options)
    {
        var failures = new List<string>();
        var factories = options.ConnectionMultiplexerFactories.Count;
        var count = options.Endpoints.Count;
        if (count > 0 && factories > 0)
        {
            failures.Add("ScalingLocksOptions.Endpoints and ScalingLocksOptions.ConnectionMultiplexerFactories are both set: give the masters one way, as host:port or as the application's multiplexers.");
        }
        else if (count == 0 && factories == 0)
        {
            failures.Add("ScalingLocksOptions.Endpoints is empty: add the host:port of each independent Redis master (a positive odd number of them), or the application's multiplexers to ScalingLocksOptions.ConnectionMultiplexerFactories.");
        }
        else if ((count + factories) % 2 == 0)
        {
            failures.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"ScalingLocksOptions.{(count > 0 ? nameof(ScalingLocksOptions.Endpoints) : nameof(ScalingLocksOptions.ConnectionMultiplexerFactories))} holds {count + factories} masters: use an odd number (1, 3, 5, ...) so that a strict majority is well defined; an even count tolerates no more failures than one master fewer."));
        }

        if (options.ConnectionMultiplexerFactories.Any(f => f is null))
        {
            failures.Add("ScalingLocksOptions.ConnectionMultiplexerFactories holds a null factory.");
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var endpoint in options.Endpoints)
        {
            if (!RedisEndPoint.TryParse(endpoint, out _, out _))
            {
                failures.Add($"ScalingLocksOptions.Endpoints holds {DisplayText.Quote(endpoint ?? string.Empty)}, which is not host:port with a port from 1 to 65535.");
            }
            else if (!seen.Add(endpoint.Trim()))
            {
                failures.Add($"ScalingLocksOptions.Endpoints holds {DisplayText.Quote(endpoint)} twice: every master must be a distinct, independent server.");
            }
        }

        if (options.KeyPrefix is null || options.KeyPrefix.Length > ScalingLocksOptions.MaxKeyPrefixLength)
        {
            failures.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"ScalingLocksOptions.KeyPrefix must be a string of at most {ScalingLocksOptions.MaxKeyPrefixLength} characters (it may be empty)."));
        }

        CheckTimeout(failures, options.NodeTimeout, nameof(ScalingLocksOptions.NodeTimeout));
        CheckTimeout(failures, options.ConnectTimeout, nameof(ScalingLocksOptions.ConnectTimeout));
        if (options.MinRetryDelay < TimeSpan.Zero || options.MinRetryDelay > MaxTimeout)
        {
            failures.Add($"ScalingLocksOptions.MinRetryDelay must be from zero to {MaxTimeout}; it was {options.MinRetryDelay}.");
        }

        if (options.MaxRetryDelay < options.MinRetryDelay || options.MaxRetryDelay > MaxTimeout)
        {
            failures.Add($"ScalingLocksOptions.MaxRetryDelay must be from ScalingLocksOptions.MinRetryDelay ({options.MinRetryDelay}) to {MaxTimeout}; it was {options.MaxRetryDelay}.");
        }

        return failures;
    }

    private static void CheckTimeout(List<string> failures, TimeSpan value, string option)
    {
        if (value < TimeSpan.FromMilliseconds(1) || value > MaxTimeout)
        {
            failures.Add($"ScalingLocksOptions.{option} must be from 1 ms to {MaxTimeout}; it was {value}.");
        }
    }
}
