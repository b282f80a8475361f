using System.Globalization;

namespace Scaling;

/// <summary>
/// The one rule set for tenant ids, shared by every package (docs/conventions.md, "Tenants"): 1 to
/// <see cref="MaxLength"/> characters (one DNS label) of lowercase ASCII letters, digits and <c>-</c>, starting and
/// ending with a letter or a digit. Uppercase is rejected, never lowercased.
/// </summary>
internal static class TenantIdRules
{
    /// <summary>The longest tenant id: 63 characters, the longest DNS label.</summary>
    internal const int MaxLength = 63;

    /// <summary>Whether <paramref name="value"/> is a valid tenant id.</summary>
    internal static bool IsValid(ReadOnlySpan<char> value) => Validate(value, out _) == Error.None;

    /// <summary>The reason <paramref name="value"/> is not a valid tenant id, or <see langword="null"/> when it is.</summary>
    internal static string? Describe(string value)
    {
        var error = Validate(value, out var index);
        return error == Error.None ? null : DescribeError(value, error, index);
    }

    private static Error Validate(ReadOnlySpan<char> value, out int index)
    {
        index = -1;
        if (value.IsEmpty)
        {
            return Error.Empty;
        }

        if (value.Length > MaxLength)
        {
            return Error.TooLong;
        }

        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
            {
                continue;
            }

            index = i;
            return char.IsAsciiLetterUpper(c) ? Error.Uppercase : Error.InvalidCharacter;
        }

        if (value[0] == '-')
        {
            index = 0;
            return Error.LeadingHyphen;
        }

        if (value[^1] == '-')
        {
            index = value.Length - 1;
            return Error.TrailingHyphen;
        }

        return Error.None;
    }

    private static string DescribeError(string value, Error error, int index)
    {
        const string Allowed = "only lowercase ASCII letters (a-z), digits (0-9) and '-' are allowed";
        return error switch
        {
            Error.Empty =>
                $"A tenant id cannot be empty; it must be 1 to {MaxLength} characters long, and {Allowed}.",
            Error.TooLong => string.Create(
                CultureInfo.InvariantCulture,
                $"The tenant id {DisplayText.Quote(value)} is {value.Length} characters long; a tenant id is at most {MaxLength} characters (one DNS label)."),
            Error.Uppercase => string.Create(
                CultureInfo.InvariantCulture,
                $"The tenant id {DisplayText.Quote(value)} contains the uppercase letter '{value[index]}' at index {index}; tenant ids are lowercase, and uppercase input is rejected rather than lowercased."),
            Error.InvalidCharacter => string.Create(
                CultureInfo.InvariantCulture,
                $"The tenant id {DisplayText.Quote(value)} contains {DisplayText.Describe(value[index])} at index {index}; {Allowed}."),
            Error.LeadingHyphen =>
                $"The tenant id {DisplayText.Quote(value)} starts with '-'; it must start with a lowercase letter or a digit.",
            Error.TrailingHyphen =>
                $"The tenant id {DisplayText.Quote(value)} ends with '-'; it must end with a lowercase letter or a digit.",
            _ => throw new ArgumentOutOfRangeException(nameof(error), error, "Unknown tenant id validation error."),
        };
    }

    private enum Error
    {
        None,
        Empty,
        TooLong,
        Uppercase,
        InvalidCharacter,
        LeadingHyphen,
        TrailingHyphen,
    }
}
