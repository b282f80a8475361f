using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Scaling.Tenancy;

/// <summary>Validates <see cref="ScalingTenancyOptions"/>; each failure names the option.</summary>
public sealed partial class ScalingTenancyOptionsValidator : IValidateOptions<ScalingTenancyOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ScalingTenancyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.MetadataConnectionString))
        {
            failures.Add("ScalingTenancyOptions.MetadataConnectionString is required: the connection string of the metadata database that holds the shard map.");
        }

        if (options.MetadataSchema is null || !SqlName().IsMatch(options.MetadataSchema))
        {
            failures.Add($"ScalingTenancyOptions.MetadataSchema {DisplayText.Quote(options.MetadataSchema)} is not a plain SQL name (a lowercase letter or '_', then lowercase letters, digits or '_', at most 63).");
        }

        if (options.TenantRole is not null && !SqlName().IsMatch(options.TenantRole))
        {
            failures.Add($"ScalingTenancyOptions.TenantRole {DisplayText.Quote(options.TenantRole)} is not a plain SQL name (a lowercase letter or '_', then lowercase letters, digits or '_', at most 63).");
        }

        if (string.IsNullOrWhiteSpace(options.MapChannel))
        {
            failures.Add("ScalingTenancyOptions.MapChannel cannot be empty.");
        }

        if (options.RedisConfiguration is { } redis && string.IsNullOrWhiteSpace(redis))
        {
            failures.Add("ScalingTenancyOptions.RedisConfiguration is empty; leave it null to run without the Redis push.");
        }

        Positive(options.RefreshInterval, TimeSpan.FromMilliseconds(100), nameof(options.RefreshInterval), failures);
        Positive(options.MetadataTimeout, TimeSpan.FromMilliseconds(100), nameof(options.MetadataTimeout), failures);
        Positive(options.RetryAfter, TimeSpan.FromSeconds(1), nameof(options.RetryAfter), failures);
        Positive(options.MaxMoveWritePause, TimeSpan.FromMilliseconds(100), nameof(options.MaxMoveWritePause), failures);
        if (options.MoveFenceThreshold < 1)
        {
            failures.Add($"ScalingTenancyOptions.MoveFenceThreshold is {options.MoveFenceThreshold}; it must be at least 1.");
        }

        foreach (var table in options.TenantTables)
        {
            if (table is null || !QualifiedSqlName().IsMatch(table))
            {
                failures.Add($"ScalingTenancyOptions.TenantTables contains {DisplayText.Quote(table)}, which is not a plain table name ('table' or 'schema.table' of lowercase letters, digits and '_').");
            }
        }

        if (options.TenantTables.Distinct(StringComparer.Ordinal).Count() != options.TenantTables.Count)
        {
            failures.Add("ScalingTenancyOptions.TenantTables lists a table more than once.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Throws an <see cref="OptionsValidationException"/> naming every invalid option.</summary>
    /// <param name="options">The options.</param>
    public static void ThrowIfInvalid(ScalingTenancyOptions options)
    {
        var result = new ScalingTenancyOptionsValidator().Validate(null, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(ScalingTenancyOptions), result.Failures);
        }
    }

    private static void Positive(TimeSpan value, TimeSpan minimum, string option, List<string> failures)
    {
        if (value < minimum)
        {
            failures.Add($"ScalingTenancyOptions.{option} is {value}; it must be at least {minimum}.");
        }
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex SqlName();

    [GeneratedRegex("^([a-z_][a-z0-9_]{0,62}\\.)?[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex QualifiedSqlName();
}
