using System.Globalization;
using Microsoft.Extensions.Options;

namespace Scaling.Tenancy.Migrations;

/// <summary>Validates <see cref="MigrationRunnerOptions"/>; every failure names the option and the value it had.</summary>
public sealed class MigrationRunnerOptionsValidator : IValidateOptions<MigrationRunnerOptions>
{
    private const string Prefix = "MigrationRunnerOptions.";

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, MigrationRunnerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = Failures(options);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every failure, if there is any.</summary>
    internal static void ThrowIfInvalid(MigrationRunnerOptions options)
    {
        var failures = Failures(options);
        if (failures.Count > 0)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(MigrationRunnerOptions), failures);
        }
    }

    /// <summary>Whether <paramref name="name"/> is an identifier the runner accepts (and can quote without escaping).</summary>
    internal static bool IsIdentifier(string? name) =>
        name is { Length: > 0 and <= 63 }
        && (char.IsAsciiLetterLower(name[0]) || name[0] == '_')
        && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_');

    private static List<string> Failures(MigrationRunnerOptions o)
    {
        var failures = new List<string>();
        Identifier(o.HistorySchema, nameof(o.HistorySchema));
        Identifier(o.HistoryTable, nameof(o.HistoryTable));
        if (o.LockTimeout <= TimeSpan.Zero || o.LockTimeout > TimeSpan.FromDays(1) || o.LockTimeout.Ticks % TimeSpan.TicksPerMillisecond != 0)
        {
            failures.Add($"{Prefix}{nameof(o.LockTimeout)} must be a whole number of milliseconds greater than zero, at most a day (was {Show(o.LockTimeout)}).");
        }

        if (o.CommandTimeout < TimeSpan.Zero || o.CommandTimeout > TimeSpan.FromDays(1) || o.CommandTimeout.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            failures.Add($"{Prefix}{nameof(o.CommandTimeout)} must be a whole number of seconds (0 = no timeout), at most a day (was {Show(o.CommandTimeout)}): Npgsql takes seconds.");
        }

        if (o.MaxParallelism is < 1 or > 64)
        {
            failures.Add($"{Prefix}{nameof(o.MaxParallelism)} must be between 1 and 64 (was {o.MaxParallelism.ToString(CultureInfo.InvariantCulture)}).");
        }

        return failures;

        void Identifier(string? value, string option)
        {
            if (!IsIdentifier(value))
            {
                failures.Add($"{Prefix}{option} must be 1 to 63 lowercase letters, digits or '_', not starting with a digit (was {(value is null ? "null" : DisplayText.Quote(value))}).");
            }
        }

        static string Show(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);
    }
}
