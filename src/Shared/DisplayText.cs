using System.Globalization;
using System.Text;

namespace Scaling;

/// <summary>
/// Renders untrusted input (a tenant id, cache key, token or policy name) for an exception
/// message: cut to a bounded length, with anything outside printable ASCII escaped, so a message
/// can be logged without flooding or corrupting the log.
/// </summary>
internal static class DisplayText
{
    private const int MaxQuotedLength = 64;

    /// <summary>Quotes <paramref name="text"/>, e.g. <c>'acme'</c>, or <c>'aaa…' (first 64 of 300 characters)</c>.</summary>
    internal static string Quote(ReadOnlySpan<char> text)
    {
        var shown = text.Length > MaxQuotedLength ? text[..MaxQuotedLength] : text;
        var builder = new StringBuilder(shown.Length + 48);
        builder.Append('\'');
        foreach (var c in shown)
        {
            if (c is >= ' ' and <= '~')
            {
                builder.Append(c);
            }
            else
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            }
        }

        builder.Append('\'');
        if (shown.Length < text.Length)
        {
            builder.Append(CultureInfo.InvariantCulture, $" (first {MaxQuotedLength} of {text.Length} characters)");
        }

        return builder.ToString();
    }

    /// <summary>Describes one character, e.g. <c>'.' (U+002E)</c>, or <c>U+0009</c> when it is not printable.</summary>
    internal static string Describe(char c) =>
        char.IsControl(c) || char.IsSurrogate(c) || (char.IsWhiteSpace(c) && c != ' ')
            ? string.Create(CultureInfo.InvariantCulture, $"U+{(int)c:X4}")
            : string.Create(CultureInfo.InvariantCulture, $"'{c}' (U+{(int)c:X4})");
}
