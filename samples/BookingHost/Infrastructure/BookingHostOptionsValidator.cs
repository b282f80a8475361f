using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace BookingHost.Infrastructure;

/// <summary>Validates <see cref="BookingHostOptions"/>: a bad setting stops the host before it serves.</summary>
public sealed partial class BookingHostOptionsValidator : IValidateOptions<BookingHostOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, BookingHostOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.HostTemplates is not { Length: > 0 } || options.HostTemplates.Any(t => string.IsNullOrWhiteSpace(t) || !t.Contains("{tenant}", StringComparison.Ordinal)))
        {
            failures.Add("BookingHost:HostTemplates: at least one template is required, and each contains '{tenant}' (e.g. '{tenant}.localhost').");
        }

        if (!SqlName().IsMatch(options.MetadataSchema ?? string.Empty))
        {
            failures.Add("BookingHost:MetadataSchema: a PostgreSQL schema name of a-z, 0-9 and '_' is required, starting with a letter or '_'.");
        }

        if (!SqlName().IsMatch(options.TenantRole ?? string.Empty))
        {
            failures.Add("BookingHost:TenantRole: a PostgreSQL role name of a-z, 0-9 and '_' is required, starting with a letter or '_'.");
        }

        if (options.BookingMonthsAhead is < 1 or > 60)
        {
            failures.Add($"BookingHost:BookingMonthsAhead: must be between 1 and 60; {options.BookingMonthsAhead} was given.");
        }

        if (options.ShardMaxPoolSize is < 1 or > 1000)
        {
            failures.Add($"BookingHost:ShardMaxPoolSize: must be between 1 and 1000; {options.ShardMaxPoolSize} was given.");
        }

        if (options.ShardMaxAutoPrepare is < 0 or > 1000)
        {
            failures.Add($"BookingHost:ShardMaxAutoPrepare: must be between 0 (off) and 1000; {options.ShardMaxAutoPrepare} was given.");
        }

        if (options.MinWorkerThreads is < 0 or > 32767)
        {
            failures.Add($"BookingHost:MinWorkerThreads: must be between 0 and 32767; {options.MinWorkerThreads} was given.");
        }

        if (options.MaxRequestBodyBytes < 1)
        {
            failures.Add($"BookingHost:MaxRequestBodyBytes: must be positive; {options.MaxRequestBodyBytes} was given.");
        }

        if (string.IsNullOrEmpty(options.RateLimitKeyPrefix))
        {
            failures.Add("BookingHost:RateLimitKeyPrefix: is required (deployments sharing a Redis use different prefixes).");
        }

        if (options.RateLimitReservedPermits is < 0 or > 1_000_000)
        {
            failures.Add($"BookingHost:RateLimitReservedPermits: must be between 0 (off) and 1000000; {options.RateLimitReservedPermits} was given.");
        }

        foreach (var (setting, value) in new[]
        {
            (nameof(options.AnonymousPerMinute), options.AnonymousPerMinute),
            (nameof(options.AuthenticatedPerMinute), options.AuthenticatedPerMinute),
            (nameof(options.PremiumPerMinute), options.PremiumPerMinute),
            (nameof(options.BasicBusinessPerDay), options.BasicBusinessPerDay),
            (nameof(options.PremiumBusinessPerDay), options.PremiumBusinessPerDay),
        })
        {
            if (value < 1)
            {
                failures.Add($"BookingHost:{setting}: must be positive; {value} was given.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex SqlName();
}
