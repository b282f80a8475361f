using System.Globalization;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Scaling.Data;

/// <summary>Validates <see cref="ScalingDataOptions"/>; every failure names the option and the value it had.</summary>
public sealed class ScalingDataOptionsValidator : IValidateOptions<ScalingDataOptions>
{
    private const int MaxNameLength = 64;

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ScalingDataOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = Failures(options);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every failure, if there is any.</summary>
    internal static void ThrowIfInvalid(ScalingDataOptions options)
    {
        var failures = Failures(options);
        if (failures.Count > 0)
        {
            throw new OptionsValidationException(options.Name ?? string.Empty, typeof(ScalingDataOptions), failures);
        }
    }

    private static List<string> Failures(ScalingDataOptions o)
    {
        var failures = new List<string>();
        const string Prefix = "ScalingDataOptions.";

        if (string.IsNullOrEmpty(o.Name) || o.Name.Length > MaxNameLength || !o.Name.All(IsNameChar))
        {
            failures.Add($"{Prefix}{nameof(o.Name)} must be 1 to {MaxNameLength} letters, digits, '-', '_' or '.' (was {(o.Name is null ? "null" : DisplayText.Quote(o.Name))}).");
        }

        if (string.IsNullOrWhiteSpace(o.PrimaryConnectionString))
        {
            failures.Add($"{Prefix}{nameof(o.PrimaryConnectionString)} is required (the primary's Npgsql connection string).");
        }
        else
        {
            CheckConnectionString(o.PrimaryConnectionString, $"{Prefix}{nameof(o.PrimaryConnectionString)}", failures);
        }

        for (var i = 0; i < o.ReplicaConnectionStrings.Count; i++)
        {
            var option = string.Create(CultureInfo.InvariantCulture, $"{Prefix}{nameof(o.ReplicaConnectionStrings)}[{i}]");
            if (string.IsNullOrWhiteSpace(o.ReplicaConnectionStrings[i]))
            {
                failures.Add($"{option} is empty.");
            }
            else
            {
                CheckConnectionString(o.ReplicaConnectionStrings[i], option, failures);
            }
        }

        Positive(o.MaxReplicaLagBytes, nameof(o.MaxReplicaLagBytes));
        Positive(o.MaxReplicaLagTime, nameof(o.MaxReplicaLagTime));
        if (!(o.ReadmitLagRatio > 0 && o.ReadmitLagRatio <= 1))
        {
            failures.Add($"{Prefix}{nameof(o.ReadmitLagRatio)} must be greater than 0 and at most 1 (was {o.ReadmitLagRatio.ToString(CultureInfo.InvariantCulture)}).");
        }

        Positive(o.ReadmitAfterHealthyChecks, nameof(o.ReadmitAfterHealthyChecks));
        Positive(o.HealthCheckInterval, nameof(o.HealthCheckInterval));
        Positive(o.HealthCheckTimeout, nameof(o.HealthCheckTimeout));
        Positive(o.MaxPrimaryFallbackReads, nameof(o.MaxPrimaryFallbackReads));
        if (o.PrimaryFallbackWaitTimeout < TimeSpan.Zero)
        {
            failures.Add($"{Prefix}{nameof(o.PrimaryFallbackWaitTimeout)} must not be negative (was {o.PrimaryFallbackWaitTimeout.ToString("c", CultureInfo.InvariantCulture)}).");
        }

        if (o.MaxRetryAttempts is < 0 or > 10)
        {
            failures.Add($"{Prefix}{nameof(o.MaxRetryAttempts)} must be between 0 and 10 (was {o.MaxRetryAttempts.ToString(CultureInfo.InvariantCulture)}).");
        }

        Positive(o.RetryBaseDelay, nameof(o.RetryBaseDelay));
        if (!(o.CircuitBreakerFailureRatio > 0 && o.CircuitBreakerFailureRatio <= 1))
        {
            failures.Add($"{Prefix}{nameof(o.CircuitBreakerFailureRatio)} must be greater than 0 and at most 1 (was {o.CircuitBreakerFailureRatio.ToString(CultureInfo.InvariantCulture)}).");
        }

        if (o.CircuitBreakerMinimumThroughput < 2)
        {
            failures.Add($"{Prefix}{nameof(o.CircuitBreakerMinimumThroughput)} must be at least 2 (was {o.CircuitBreakerMinimumThroughput.ToString(CultureInfo.InvariantCulture)}).");
        }

        if (o.CircuitBreakerSamplingDuration < TimeSpan.FromMilliseconds(500))
        {
            failures.Add($"{Prefix}{nameof(o.CircuitBreakerSamplingDuration)} must be at least 500 ms (was {o.CircuitBreakerSamplingDuration.ToString("c", CultureInfo.InvariantCulture)}).");
        }

        if (o.CircuitBreakerBreakDuration < TimeSpan.FromMilliseconds(500))
        {
            failures.Add($"{Prefix}{nameof(o.CircuitBreakerBreakDuration)} must be at least 500 ms (was {o.CircuitBreakerBreakDuration.ToString("c", CultureInfo.InvariantCulture)}).");
        }

        WholeSeconds(o.CommandTimeout, nameof(o.CommandTimeout), allowZero: true);
        WholeSeconds(o.ConnectTimeout, nameof(o.ConnectTimeout), allowZero: false);
        if (o.SlowQueryThreshold is { } slow && slow <= TimeSpan.Zero)
        {
            failures.Add($"{Prefix}{nameof(o.SlowQueryThreshold)} must be greater than zero, or null to turn the slow-query log off (was {slow.ToString("c", CultureInfo.InvariantCulture)}).");
        }

        return failures;

        void Positive<T>(T value, string option)
            where T : IComparable<T>
        {
            if (value.CompareTo(default!) <= 0)
            {
                failures.Add($"{Prefix}{option} must be greater than zero (was {string.Format(CultureInfo.InvariantCulture, "{0}", value)}).");
            }
        }

        void WholeSeconds(TimeSpan value, string option, bool allowZero)
        {
            if (value < TimeSpan.Zero || (!allowZero && value == TimeSpan.Zero) || value.Ticks % TimeSpan.TicksPerSecond != 0 || value > TimeSpan.FromDays(1))
            {
                failures.Add($"{Prefix}{option} must be a whole number of seconds{(allowZero ? " (0 = no timeout)" : " greater than zero")}, at most a day (was {value.ToString("c", CultureInfo.InvariantCulture)}): Npgsql takes seconds.");
            }
        }
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.';

    private static void CheckConnectionString(string connectionString, string option, List<string> failures)
    {
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            if (string.IsNullOrEmpty(builder.Host))
            {
                failures.Add($"{option} has no Host.");
            }
            else if (builder.Host.Contains(',', StringComparison.Ordinal))
            {
                failures.Add($"{option} names several hosts ({DisplayText.Quote(builder.Host)}); give each server its own connection string.");
            }
        }
        catch (ArgumentException e)
        {
            // The message is Npgsql's own (it names the bad keyword); the connection string itself is not
            // repeated because it may hold a password.
            failures.Add($"{option} is not a valid Npgsql connection string: {e.Message}");
        }
    }
}
