using System.Globalization;
using Microsoft.Extensions.Options;

namespace Scaling.Tenancy.Resolution;

/// <summary>
/// Validates <see cref="TenantResolutionOptions"/>; every message names the option it is about. Registered by
/// <c>AddScalingTenantResolution</c> with validation on start.
/// </summary>
public sealed class TenantResolutionOptionsValidator : IValidateOptions<TenantResolutionOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TenantResolutionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = Failures(options);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    internal static List<string> Failures(TenantResolutionOptions options)
    {
        var failures = new List<string>();
        if (options.Strategies.Count == 0)
        {
            failures.Add(
                "TenantResolutionOptions.Strategies is empty: add at least one strategy, e.g. o.AddSubdomain(\"{tenant}.example.com\").AddHeader(), " +
                "or do not register tenant resolution.");
        }

        for (var i = 0; i < options.Strategies.Count; i++)
        {
            var strategy = options.Strategies[i];
            if (strategy is null)
            {
                failures.Add(string.Create(CultureInfo.InvariantCulture, $"TenantResolutionOptions.Strategies[{i}] is null."));
            }
            else if (string.IsNullOrWhiteSpace(strategy.Name))
            {
                failures.Add(string.Create(
                    CultureInfo.InvariantCulture,
                    $"TenantResolutionOptions.Strategies[{i}] ({strategy.GetType().FullName}) has an empty Name; a strategy's name says where it reads the tenant id (logs and problem responses show it)."));
            }
        }

        if (!Enum.IsDefined(options.ConflictPolicy))
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"TenantResolutionOptions.ConflictPolicy has the undefined value {(int)options.ConflictPolicy}."));
        }

        return failures;
    }
}
