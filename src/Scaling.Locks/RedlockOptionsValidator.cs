using System.Globalization;
using Microsoft.Extensions.Options;

namespace Scaling.Locks;

/// <summary>
/// Validates <see cref="RedlockOptions"/>; every message names the option it is about. Registered by
/// <see cref="ScalingLocksServiceCollectionExtensions.AddScalingLocks"/> with validation on start.
/// </summary>
public sealed class RedlockOptionsValidator : IValidateOptions<RedlockOptions>
{
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromMinutes(5);

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, RedlockOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = Failures(options);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    internal static List<string> Failures(RedlockOptions options)
    {
        var failures = new List<string>();
        var factories = options.ConnectionMultiplexerFactories.Count;
        var count = options.Endpoints.Count;
        if (count > 0 && factories > 0)
        {
            failures.Add("RedlockOptions.Endpoints and RedlockOptions.ConnectionMultiplexerFactories are both set: give the masters one way, as host:port or as the application's multiplexers.");
        }
        else if (count == 0 && factories == 0)
        {
            failures.Add("RedlockOptions.Endpoints is empty: add the host:port of each independent Redis master (a positive odd number of them), or the application's multiplexers to RedlockOptions.ConnectionMultiplexerFactories.");
        }
        else if ((count + factories) % 2 == 0)
        {
            failures.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"RedlockOptions.{(count > 0 ? nameof(RedlockOptions.Endpoints) : nameof(RedlockOptions.ConnectionMultiplexerFactories))} holds {count + factories} masters: use an odd number (1, 3, 5, ...) so that a strict majority is well defined; an even count tolerates no more failures than one master fewer."));
        }

        if (options.ConnectionMultiplexerFactories.Any(f => f is null))
        {
            failures.Add("RedlockOptions.ConnectionMultiplexerFactories holds a null factory.");
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var endpoint in options.Endpoints)
        {
            if (!RedisEndPoint.TryParse(endpoint, out _, out _))
            {
                failures.Add($"RedlockOptions.Endpoints holds {DisplayText.Quote(endpoint ?? string.Empty)}, which is not host:port with a port from 1 to 65535.");
            }
            else if (!seen.Add(endpoint.Trim()))
            {
                failures.Add($"RedlockOptions.Endpoints holds {DisplayText.Quote(endpoint)} twice: every master must be a distinct, independent server.");
            }
        }

        if (options.KeyPrefix is null || options.KeyPrefix.Length > RedlockOptions.MaxKeyPrefixLength)
        {
            failures.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"RedlockOptions.KeyPrefix must be a string of at most {RedlockOptions.MaxKeyPrefixLength} characters (it may be empty)."));
        }

        CheckTimeout(failures, options.NodeTimeout, nameof(RedlockOptions.NodeTimeout));
        CheckTimeout(failures, options.ConnectTimeout, nameof(RedlockOptions.ConnectTimeout));
        if (options.MinRetryDelay < TimeSpan.Zero || options.MinRetryDelay > MaxTimeout)
        {
            failures.Add($"RedlockOptions.MinRetryDelay must be from zero to {MaxTimeout}; it was {options.MinRetryDelay}.");
        }

        if (options.MaxRetryDelay < options.MinRetryDelay || options.MaxRetryDelay > MaxTimeout)
        {
            failures.Add($"RedlockOptions.MaxRetryDelay must be from RedlockOptions.MinRetryDelay ({options.MinRetryDelay}) to {MaxTimeout}; it was {options.MaxRetryDelay}.");
        }

        return failures;
    }

    private static void CheckTimeout(List<string> failures, TimeSpan value, string option)
    {
        if (value < TimeSpan.FromMilliseconds(1) || value > MaxTimeout)
        {
            failures.Add($"RedlockOptions.{option} must be from 1 ms to {MaxTimeout}; it was {value}.");
        }
    }
}
