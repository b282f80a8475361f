using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using NpgsqlTypes;

namespace Scaling.Data;

/// <summary>
/// A read-your-writes consistency token: the primary's WAL position (LSN) after a committed write.
/// A read that carries it must be served by a replica whose replay position has reached it
/// (<see cref="IsReachedBy"/>), or else by the primary.
/// </summary>
/// <remarks>
/// <para>
/// The text form (<see cref="ToString"/>) is the 64-bit LSN as 1 to 16 lowercase hexadecimal digits
/// without leading zeros or separators, e.g. <c>16b374d848</c> for the PostgreSQL LSN
/// <c>16/B374D848</c>. It contains only <c>[0-9a-f]</c>, so it can be carried as it is in an HTTP
/// header, a cookie or a query string.
/// </para>
/// <para>
/// <see cref="Parse"/> and <see cref="TryParse"/> accept that form (hexadecimal digits in either case,
/// leading zeros allowed, at most 16 digits) and, for convenience, PostgreSQL's own text form of an LSN
/// as returned by <c>pg_current_wal_lsn()</c>: two groups of 1 to 8 hexadecimal digits separated by
/// <c>/</c>, e.g. <c>16/B374D848</c>. Nothing else is accepted: no white space, no sign, no <c>0x</c>
/// prefix.
/// </para>
/// <para>
/// <c>default(ConsistencyToken)</c> holds LSN <c>0/0</c>, which every server has reached: it demands
/// nothing. Its text form is <c>0</c>.
/// </para>
/// </remarks>
public readonly struct ConsistencyToken : IEquatable<ConsistencyToken>, IComparable<ConsistencyToken>
{
    /// <summary>The maximum length of the token's own text form: 16 hexadecimal digits (64 bits).</summary>
    public const int MaxLength = 16;

    private const int MaxPostgresGroupLength = 8;
    private const string ExpectedForms =
        "a consistency token is 1 to 16 hexadecimal digits (e.g. '16b374d848') or a PostgreSQL LSN of two groups of 1 to 8 hexadecimal digits separated by '/' (e.g. '16/B374D848')";

    private readonly ulong _value;

    private ConsistencyToken(ulong value) => _value = value;

    /// <summary>Gets the WAL position (LSN) the token stands for.</summary>
    public NpgsqlLogSequenceNumber Lsn => new(_value);

    /// <summary>Creates the token for a WAL position, normally the primary's LSN after a committed write.</summary>
    /// <param name="lsn">The WAL position.</param>
    /// <returns>The token.</returns>
    public static ConsistencyToken FromLsn(NpgsqlLogSequenceNumber lsn) => new((ulong)lsn);

    /// <summary>
    /// Determines whether a server whose replay position is <paramref name="replayLsn"/> has applied
    /// the write this token stands for (that is, <paramref name="replayLsn"/> ≥ <see cref="Lsn"/>).
    /// </summary>
    /// <param name="replayLsn">The server's replay position, e.g. a replica's <c>pg_last_wal_replay_lsn()</c>.</param>
    /// <returns><see langword="true"/> when a read on that server sees the write.</returns>
    public bool IsReachedBy(NpgsqlLogSequenceNumber replayLsn) => (ulong)replayLsn >= _value;

    /// <summary>Parses a consistency token from its own text form or from PostgreSQL's LSN text form.</summary>
    /// <param name="text">The text, e.g. <c>16b374d848</c> or <c>16/B374D848</c>.</param>
    /// <returns>The token.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    /// <exception cref="FormatException"><paramref name="text"/> is not a token; the message names the input and what is wrong with it.</exception>
    public static ConsistencyToken Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var error = TryParseCore(text, out var value, out var index);
        return error == ParseError.None ? new ConsistencyToken(value) : throw new FormatException(DescribeError(text, error, index));
    }

    /// <summary>Tries to parse a consistency token from its own text form or from PostgreSQL's LSN text form.</summary>
    /// <param name="text">The text, e.g. <c>16b374d848</c> or <c>16/B374D848</c>.</param>
    /// <param name="token">The token when parsing succeeded; otherwise <c>default</c>.</param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is a token.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, out ConsistencyToken token)
    {
        if (text is not null && TryParseCore(text, out var value, out _) == ParseError.None)
        {
            token = new ConsistencyToken(value);
            return true;
        }

        token = default;
        return false;
    }

    /// <summary>Returns the token's text form: the LSN as lowercase hexadecimal digits, without leading zeros or separators.</summary>
    /// <returns>The text form, e.g. <c>16b374d848</c>; it only contains <c>[0-9a-f]</c>.</returns>
    public override string ToString() => _value.ToString("x", CultureInfo.InvariantCulture);

    /// <inheritdoc />
    public bool Equals(ConsistencyToken other) => _value == other._value;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is ConsistencyToken other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => _value.GetHashCode();

    /// <summary>Compares by WAL position: a later write has a greater token.</summary>
    /// <param name="other">The token to compare with.</param>
    /// <returns>Less than zero, zero or greater than zero when this token is before, at or after <paramref name="other"/>.</returns>
    public int CompareTo(ConsistencyToken other) => _value.CompareTo(other._value);

    /// <summary>Determines whether two tokens stand for the same WAL position.</summary>
    /// <param name="left">The first token.</param>
    /// <param name="right">The second token.</param>
    /// <returns><see langword="true"/> when both stand for the same position.</returns>
    public static bool operator ==(ConsistencyToken left, ConsistencyToken right) => left.Equals(right);

    /// <summary>Determines whether two tokens stand for different WAL positions.</summary>
    /// <param name="left">The first token.</param>
    /// <param name="right">The second token.</param>
    /// <returns><see langword="true"/> when the positions differ.</returns>
    public static bool operator !=(ConsistencyToken left, ConsistencyToken right) => !left.Equals(right);

    /// <summary>Determines whether <paramref name="left"/> is an earlier WAL position than <paramref name="right"/>.</summary>
    /// <param name="left">The first token.</param>
    /// <param name="right">The second token.</param>
    /// <returns><see langword="true"/> when <paramref name="left"/> is earlier.</returns>
    public static bool operator <(ConsistencyToken left, ConsistencyToken right) => left._value < right._value;

    /// <summary>Determines whether <paramref name="left"/> is a later WAL position than <paramref name="right"/>.</summary>
    /// <param name="left">The first token.</param>
    /// <param name="right">The second token.</param>
    /// <returns><see langword="true"/> when <paramref name="left"/> is later.</returns>
    public static bool operator >(ConsistencyToken left, ConsistencyToken right) => left._value > right._value;

    /// <summary>Determines whether <paramref name="left"/> is the same as or an earlier WAL position than <paramref name="right"/>.</summary>
    /// <param name="left">The first token.</param>
    /// <param name="right">The second token.</param>
    /// <returns><see langword="true"/> when <paramref name="left"/> is not later.</returns>
    public static bool operator <=(ConsistencyToken left, ConsistencyToken right) => left._value <= right._value;

    /// <summary>Determines whether <paramref name="left"/> is the same as or a later WAL position than <paramref name="right"/>.</summary>
    /// <param name="left">The first token.</param>
    /// <param name="right">The second token.</param>
    /// <returns><see langword="true"/> when <paramref name="left"/> is not earlier.</returns>
    public static bool operator >=(ConsistencyToken left, ConsistencyToken right) => left._value >= right._value;

    private static ParseError TryParseCore(ReadOnlySpan<char> text, out ulong value, out int index)
    {
        value = 0;
        index = -1;
        if (text.IsEmpty)
        {
            return ParseError.Empty;
        }

        var slash = text.IndexOf('/');
        if (slash < 0)
        {
            return text.Length > MaxLength ? ParseError.TooLong : ParseHex(text, 0, out value, out index);
        }

        if (text.Length > (2 * MaxPostgresGroupLength) + 1)
        {
            return ParseError.TooLong;
        }

        var upperText = text[..slash];
        var lowerText = text[(slash + 1)..];
        if (upperText.IsEmpty || lowerText.IsEmpty)
        {
            index = slash;
            return ParseError.EmptyPostgresGroup;
        }

        var error = ParseHex(upperText, 0, out var upper, out index);
        if (error == ParseError.None)
        {
            error = ParseHex(lowerText, slash + 1, out var lower, out index);
            value = (upper << 32) | lower;
        }

        if (error == ParseError.None && (upperText.Length > MaxPostgresGroupLength || lowerText.Length > MaxPostgresGroupLength))
        {
            index = slash;
            return ParseError.PostgresGroupTooLong;
        }

        return error;
    }

    private static ParseError ParseHex(ReadOnlySpan<char> digits, int offset, out ulong value, out int index)
    {
        value = 0;
        index = -1;
        for (var i = 0; i < digits.Length; i++)
        {
            var digit = HexValue(digits[i]);
            if (digit < 0)
            {
                value = 0;
                index = offset + i;
                return ParseError.InvalidCharacter;
            }

            value = (value << 4) | (uint)digit;
        }

        return ParseError.None;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    private static string DescribeError(string text, ParseError error, int index) => error switch
    {
        ParseError.Empty => $"A consistency token cannot be empty; {ExpectedForms}.",
        ParseError.TooLong => string.Create(
            CultureInfo.InvariantCulture,
            $"The consistency token {DisplayText.Quote(text)} is {text.Length} characters long, which is too long; {ExpectedForms}."),
        ParseError.InvalidCharacter => string.Create(
            CultureInfo.InvariantCulture,
            $"The consistency token {DisplayText.Quote(text)} contains {DisplayText.Describe(text[index])} at index {index}, which is not a hexadecimal digit; {ExpectedForms}."),
        ParseError.EmptyPostgresGroup => $"The consistency token {DisplayText.Quote(text)} has no digits on one side of '/'; {ExpectedForms}.",
        ParseError.PostgresGroupTooLong => $"The consistency token {DisplayText.Quote(text)} has more than 8 hexadecimal digits on one side of '/'; {ExpectedForms}.",
        _ => throw new ArgumentOutOfRangeException(nameof(error), error, "Unknown consistency token parse error."),
    };

    private enum ParseError
    {
        None,
        Empty,
        TooLong,
        InvalidCharacter,
        EmptyPostgresGroup,
        PostgresGroupTooLong,
    }
}
