using System.Globalization;

namespace Scaling.Cache;

/// <summary>
/// The text of a backplane message: <c>1|publisher|sequence|kind|argument</c>. Kinds: <c>K</c> a key changed
/// or was removed (argument: the key), <c>T</c> a tag was invalidated (argument: <c>version|tag</c>), <c>C</c>
/// flush everything, <c>E</c> an instance's echo to itself (see <see cref="Echo"/>). The sequence number counts every invalidation the publisher made, including those that
/// failed to reach Redis, so a receiver that sees a gap knows it may have missed one.
/// </summary>
internal readonly record struct BackplaneMessage(string Publisher, long Sequence, char Kind, string Argument)
{
    internal const char KeyChanged = 'K';
    internal const char TagInvalidated = 'T';
    internal const char FlushAll = 'C';

    /// <summary>
    /// An instance's echo to itself (sequence 0, argument a nonce): proof that its subscription delivers again after a
    /// connection was lost. Every other instance ignores it.
    /// </summary>
    internal const char Echo = 'E';

    /// <summary>The start of a message, up to and including the separator before the kind.</summary>
    internal static string Header(string publisher, long sequence) =>
        string.Create(CultureInfo.InvariantCulture, $"{PublisherPrefix(publisher)}{sequence}|");

    /// <summary>How every message of <paramref name="publisher"/> starts: up to and including the separator after its name.</summary>
    internal static string PublisherPrefix(string publisher) => "1|" + publisher + "|";

    internal static bool TryParse(string? text, out BackplaneMessage message)
    {
        message = default;
        if (text is null || !text.StartsWith("1|", StringComparison.Ordinal))
        {
            return false;
        }

        var rest = text.AsSpan(2);
        var bar = rest.IndexOf('|');
        if (bar <= 0)
        {
            return false;
        }

        var publisher = rest[..bar].ToString();
        rest = rest[(bar + 1)..];
        bar = rest.IndexOf('|');
        if (bar <= 0 || !long.TryParse(rest[..bar], NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
        {
            return false;
        }

        rest = rest[(bar + 1)..];
        if (rest.Length < 2 || rest[1] != '|' || rest[0] is not (KeyChanged or TagInvalidated or FlushAll or Echo))
        {
            return false;
        }

        message = new BackplaneMessage(publisher, sequence, rest[0], rest[2..].ToString());
        return true;
    }

    /// <summary>Splits the argument of a <c>T</c> message into the tag and its new version.</summary>
    internal bool TryGetTag(out string tag, out long version)
    {
        tag = string.Empty;
        version = 0;
        var bar = Argument.IndexOf('|', StringComparison.Ordinal);
        if (bar <= 0 || bar == Argument.Length - 1
            || !long.TryParse(Argument.AsSpan(0, bar), NumberStyles.None, CultureInfo.InvariantCulture, out version))
        {
            return false;
        }

        tag = Argument[(bar + 1)..];
        return true;
    }
}
