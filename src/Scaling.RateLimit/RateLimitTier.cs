using System.Globalization;

namespace Scaling.RateLimit;

/// <summary>
/// A rate-limit tier: at most <see cref="PermitLimit"/> requests per <see cref="Window"/>, under a
/// name that identifies the policy in the <c>RateLimit-Policy</c> and <c>RateLimit</c> response
/// headers. See <see cref="RateLimitTiers"/> for the defaults.
/// </summary>
/// <remarks>
/// Instances are immutable; derive a changed copy with a <see langword="with"/> expression, for
/// example <c>RateLimitTiers.Premium with { PermitLimit = 10_000 }</c>. Every property is validated
/// on construction and in <see langword="with"/> expressions alike.
/// </remarks>
public sealed record RateLimitTier
{
    /// <summary>Initializes a new instance of the <see cref="RateLimitTier"/> class.</summary>
    /// <param name="name">The tier's name: not empty, printable ASCII only (U+0020 to U+007E), e.g. <c>premium</c>.</param>
    /// <param name="permitLimit">The number of requests allowed per window; at least 1.</param>
    /// <param name="window">The window length: a whole number of seconds, at least one second.</param>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or contains a character outside printable ASCII.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="permitLimit"/> or <paramref name="window"/> is out of range.</exception>
    public RateLimitTier(string name, int permitLimit, TimeSpan window)
    {
        Name = name;
        PermitLimit = permitLimit;
        Window = window;
    }

    /// <summary>
    /// Gets the tier's name, which is also the policy's identifier in the rate-limit headers: not empty,
    /// printable ASCII only (U+0020 to U+007E), so that it is a valid structured-field string.
    /// </summary>
    /// <exception cref="ArgumentNullException">Set to <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">Set to an empty string or one with a character outside printable ASCII.</exception>
    public string Name
    {
        get;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.Length == 0)
            {
                throw new ArgumentException("A rate-limit tier name cannot be empty; it identifies the policy in the RateLimit-Policy and RateLimit headers.", nameof(value));
            }

            var index = StructuredFieldString.IndexOfInvalidCharacter(value);
            if (index >= 0)
            {
                throw new ArgumentException(
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"The rate-limit tier name {DisplayText.Quote(value)} contains {DisplayText.Describe(value[index])} at index {index}; a tier name may only contain printable ASCII characters (U+0020 to U+007E) so that it is a valid structured-field string in the rate-limit headers."),
                    nameof(value));
            }

            field = value;
        }
    }

    /// <summary>Gets the number of requests allowed per <see cref="Window"/>; at least 1.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to less than 1.</exception>
    public int PermitLimit
    {
        get;
        init => field = value >= 1
            ? value
            : throw new ArgumentOutOfRangeException(
                nameof(value),
                value,
                string.Create(CultureInfo.InvariantCulture, $"{TierPrefix(Name)}A rate-limit tier's permit limit must be at least 1; it was {value}."));
    }

    /// <summary>
    /// Gets the window length: a whole number of seconds, at least one second (the headers state the
    /// window in whole seconds, so the advertised policy is exactly the enforced one).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to less than one second or to a value that is not a whole number of seconds.</exception>
    public TimeSpan Window
    {
        get;
        init => field = value >= TimeSpan.FromSeconds(1) && value.Ticks % TimeSpan.TicksPerSecond == 0
            ? value
            : throw new ArgumentOutOfRangeException(
                nameof(value),
                value,
                string.Create(CultureInfo.InvariantCulture, $"{TierPrefix(Name)}A rate-limit tier's window must be a whole number of seconds, at least one second; it was {value}."));
    }

    /// <summary>
    /// Gets how requests are counted: <see cref="RateLimitAlgorithm.SlidingWindowCounter"/> (the default,
    /// O(1) memory per key) or <see cref="RateLimitAlgorithm.SlidingLog"/> (exact, one entry per admitted request).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value that is not a defined <see cref="RateLimitAlgorithm"/>.</exception>
    public RateLimitAlgorithm Algorithm
    {
        get;
        init => field = Enum.IsDefined(value)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "Not a defined RateLimitAlgorithm.");
    }

    /// <summary>
    /// Gets what this policy does while Redis cannot be reached: <see cref="RateLimitFailureMode.LocalFallback"/>
    /// (the default), <see cref="RateLimitFailureMode.FailOpen"/> or <see cref="RateLimitFailureMode.FailClosed"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value that is not a defined <see cref="RateLimitFailureMode"/>.</exception>
    public RateLimitFailureMode WhenRedisUnavailable
    {
        get;
        init => field = Enum.IsDefined(value)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "Not a defined RateLimitFailureMode.");
    }

    // The name is set before the other properties (constructor order; a with-expression copies it), so an
    // out-of-range value names the tier it belongs to.
    private static string TierPrefix(string? name) => name is null ? string.Empty : $"Rate-limit tier {DisplayText.Quote(name)}: ";
}
