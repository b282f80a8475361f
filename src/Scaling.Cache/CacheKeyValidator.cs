using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Scaling.Cache;

/// <summary>
/// Validates cache keys: not empty, at most a maximum length, and made only of printable ASCII
/// characters other than the space (<c>!</c> U+0021 to <c>~</c> U+007E).
/// </summary>
/// <remarks>
/// <para>
/// Redis keys are binary-safe, so Redis itself would accept almost anything; these rules exist so that
/// both cache tiers agree on what a key is and keys stay manageable:
/// </para>
/// <list type="bullet">
/// <item><description>
/// L1/L2 consistency: the in-memory tier compares keys as .NET strings (ordinal, UTF-16) while Redis
/// compares the UTF-8 bytes they are encoded to. Outside ASCII the two disagree: unpaired surrogates
/// all encode to the same replacement bytes (two different L1 keys, one L2 key), and canonically
/// equivalent Unicode spellings (composed or decomposed <c>é</c>) are different keys in both tiers
/// although they look identical. Printable ASCII maps one-to-one onto bytes.
/// </description></item>
/// <item><description>
/// Key hygiene: white space and control characters make keys ambiguous in <c>redis-cli</c>,
/// <c>MONITOR</c>, slow logs and <c>SCAN</c> output, and let request data forge separators in
/// composed keys (for example a tenant prefix).
/// </description></item>
/// <item><description>
/// Length: every key is stored in both tiers and sent with every Redis command, so long keys cost
/// memory and bandwidth; the default limit is <see cref="DefaultMaxLength"/> characters.
/// </description></item>
/// </list>
/// </remarks>
public static class CacheKeyValidator
{
    /// <summary>The default maximum length of a cache key: 512 characters.</summary>
    public const int DefaultMaxLength = 512;

    /// <summary>Throws when <paramref name="key"/> is not a valid cache key.</summary>
    /// <param name="key">The cache key.</param>
    /// <param name="maxLength">The maximum number of characters allowed; at least 1.</param>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="key"/> is empty, longer than <paramref name="maxLength"/>, or contains a character
    /// outside <c>!</c>..<c>~</c>; the message says which rule failed, and which character at which
    /// index (the key itself is shown cut to its first 64 characters).
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxLength"/> is less than 1.</exception>
    public static void Validate(string key, int maxLength = DefaultMaxLength)
    {
        ArgumentNullException.ThrowIfNull(key);
        var error = Check(key, maxLength, out var index);
        if (error != ValidationError.None)
        {
            throw new ArgumentException(DescribeError(key, maxLength, error, index), nameof(key));
        }
    }

    /// <summary>Determines whether <paramref name="key"/> is a valid cache key.</summary>
    /// <param name="key">The cache key.</param>
    /// <param name="maxLength">The maximum number of characters allowed; at least 1.</param>
    /// <returns><see langword="true"/> when <paramref name="key"/> is not <see langword="null"/> and satisfies every rule.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxLength"/> is less than 1.</exception>
    public static bool IsValid([NotNullWhen(true)] string? key, int maxLength = DefaultMaxLength)
    {
        if (key is null)
        {
            ThrowIfInvalidMaxLength(maxLength);
            return false;
        }

        return Check(key, maxLength, out _) == ValidationError.None;
    }

    /// <summary>
    /// Finds what is wrong with <paramref name="key"/> (not <see langword="null"/>): false when it is valid; otherwise
    /// true, with <paramref name="reason"/> the rule broken as a metric tag value (<c>empty</c>, <c>too_long</c>,
    /// <c>invalid_character</c>) and <paramref name="message"/> the sentence <see cref="Validate"/> would throw with.
    /// </summary>
    internal static bool TryFindProblem(string key, int maxLength, out string reason, out string message)
    {
        var error = Check(key, maxLength, out var index);
        if (error == ValidationError.None)
        {
            reason = message = string.Empty;
            return false;
        }

        reason = error switch
        {
            ValidationError.Empty => "empty",
            ValidationError.TooLong => "too_long",
            _ => "invalid_character",
        };
        message = DescribeError(key, maxLength, error, index);
        return true;
    }

    private static ValidationError Check(ReadOnlySpan<char> key, int maxLength, out int index)
    {
        ThrowIfInvalidMaxLength(maxLength);
        index = -1;
        if (key.IsEmpty)
        {
            return ValidationError.Empty;
        }

        if (key.Length > maxLength)
        {
            return ValidationError.TooLong;
        }

        index = key.IndexOfAnyExceptInRange('!', '~');
        return index < 0 ? ValidationError.None : ValidationError.InvalidCharacter;
    }

    private static void ThrowIfInvalidMaxLength(int maxLength)
    {
        if (maxLength < 1)
        {
            throw new ArgumentOutOfRangeException(
                nameof(maxLength),
                maxLength,
                string.Create(CultureInfo.InvariantCulture, $"The maximum cache key length must be at least 1; it was {maxLength}."));
        }
    }

    private static string DescribeError(string key, int maxLength, ValidationError error, int index) => error switch
    {
        ValidationError.Empty => "A cache key cannot be empty.",
        ValidationError.TooLong => string.Create(
            CultureInfo.InvariantCulture,
            $"The cache key {DisplayText.Quote(key)} is {key.Length} characters long; the maximum is {maxLength}."),
        ValidationError.InvalidCharacter => string.Create(
            CultureInfo.InvariantCulture,
            $"The cache key {DisplayText.Quote(key)} contains {DisplayText.Describe(key[index])} at index {index}; cache keys may only contain printable ASCII characters from '!' (U+0021) to '~' (U+007E): no white space, control characters or non-ASCII characters."),
        _ => throw new ArgumentOutOfRangeException(nameof(error), error, "Unknown cache key validation error."),
    };

    private enum ValidationError
    {
        None,
        Empty,
        TooLong,
        InvalidCharacter,
    }
}
