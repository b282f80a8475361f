using System.Runtime.CompilerServices;

namespace Scaling.RateLimit;

/// <summary>
/// The String type of HTTP Structured Field Values (RFC 9651, section 3.3.3): printable ASCII
/// (U+0020 to U+007E) between double quotes, with <c>"</c> and <c>\</c> escaped by a backslash.
/// </summary>
internal static class StructuredFieldString
{
    /// <summary>Returns the index of the first character that a structured-field string cannot hold, or -1.</summary>
    internal static int IndexOfInvalidCharacter(ReadOnlySpan<char> value) => value.IndexOfAnyExceptInRange(' ', '~');

    /// <summary>Appends <paramref name="value"/> as a structured-field string: in double quotes, with <c>"</c> and <c>\</c> escaped.</summary>
    /// <remarks>The caller has validated <paramref name="value"/> with <see cref="IndexOfInvalidCharacter"/>.</remarks>
    internal static void AppendQuoted(ref DefaultInterpolatedStringHandler handler, string value)
    {
        handler.AppendFormatted('"');
        if (value.AsSpan().IndexOfAny('"', '\\') < 0)
        {
            handler.AppendFormatted(value);
        }
        else
        {
            foreach (var c in value)
            {
                if (c is '"' or '\\')
                {
                    handler.AppendFormatted('\\');
                }

                handler.AppendFormatted(c);
            }
        }

        handler.AppendFormatted('"');
    }
}
