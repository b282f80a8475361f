using NpgsqlTypes;
using Scaling.Data;

namespace Scaling.Data.Tests;

public class ConsistencyTokenTests
{
    public static TheoryData<ulong> Positions => new()
    {
        0UL,
        1UL,
        0x16_B374_D848UL,
        0xFFFF_FFFFUL,
        0x1_0000_0000UL,
        0x0123_4567_89AB_CDEFUL,
        ulong.MaxValue,
    };

    [Theory]
    [MemberData(nameof(Positions))]
    public void ToString_round_trips_through_Parse(ulong position)
    {
        var token = ConsistencyToken.FromLsn(new NpgsqlLogSequenceNumber(position));

        var text = token.ToString();

        Assert.Equal(token, ConsistencyToken.Parse(text));
        Assert.True(ConsistencyToken.TryParse(text, out var parsed));
        Assert.Equal(token, parsed);
        Assert.Equal(position, (ulong)parsed.Lsn);
    }

    [Theory]
    [MemberData(nameof(Positions))]
    public void ToString_is_header_safe_lowercase_hex_without_leading_zeros(ulong position)
    {
        var text = ConsistencyToken.FromLsn(new NpgsqlLogSequenceNumber(position)).ToString();

        Assert.Matches("^(0|[1-9a-f][0-9a-f]{0,15})$", text);
    }

    [Fact]
    public void ToString_is_the_lsn_as_hex()
    {
        var token = ConsistencyToken.FromLsn(NpgsqlLogSequenceNumber.Parse("16/B374D848"));

        Assert.Equal("16b374d848", token.ToString());
        Assert.Equal("ffffffffffffffff", ConsistencyToken.FromLsn(new NpgsqlLogSequenceNumber(ulong.MaxValue)).ToString());
        Assert.Equal("0", default(ConsistencyToken).ToString());
    }

    [Theory]
    [InlineData("16/B374D848", 0x16_B374_D848UL)]
    [InlineData("16/b374d848", 0x16_B374_D848UL)]
    [InlineData("0/0", 0UL)]
    [InlineData("0/1", 1UL)]
    [InlineData("FFFFFFFF/FFFFFFFF", ulong.MaxValue)]
    [InlineData("00000016/0B374D84", 0x16_0B37_4D84UL)]
    public void Parse_accepts_the_PostgreSQL_text_form(string text, ulong expected)
    {
        var token = ConsistencyToken.Parse(text);

        Assert.Equal(expected, (ulong)token.Lsn);
        Assert.Equal(NpgsqlLogSequenceNumber.Parse(text), token.Lsn);
    }

    [Theory]
    [InlineData("16B374D848", 0x16_B374_D848UL)]
    [InlineData("16b374D848", 0x16_B374_D848UL)]
    [InlineData("0000000016b374d8", 0x16_B374_D8UL)]
    [InlineData("000", 0UL)]
    [InlineData("a", 0xAUL)]
    public void Parse_accepts_either_case_and_leading_zeros_up_to_16_digits(string text, ulong expected)
    {
        Assert.Equal(expected, (ulong)ConsistencyToken.Parse(text).Lsn);
    }

    [Fact]
    public void Parse_rejects_more_than_16_digits_even_when_they_are_leading_zeros()
    {
        var exception = Assert.Throws<FormatException>(() => ConsistencyToken.Parse("000000000016b374d848"));

        Assert.Contains("is 20 characters long, which is too long", exception.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> Garbage => new()
    {
        { "", "cannot be empty" },
        { "xyz", "'xyz' contains 'x' (U+0078) at index 0, which is not a hexadecimal digit" },
        { "16b374d84g", "'16b374d84g' contains 'g' (U+0067) at index 9" },
        { " 16b374d848", "' 16b374d848' contains ' ' (U+0020) at index 0" },
        { "16b374d848 ", "contains ' ' (U+0020) at index 10" },
        { "0x16", "'0x16' contains 'x' (U+0078) at index 1" },
        { "-1", "'-1' contains '-' (U+002D) at index 0" },
        { "+1", "'+1' contains '+' (U+002B) at index 0" },
        { "12345678901234567", "'12345678901234567' is 17 characters long, which is too long" },
        { "16/", "'16/' has no digits on one side of '/'" },
        { "/B374D848", "'/B374D848' has no digits on one side of '/'" },
        { "/", "'/' has no digits on one side of '/'" },
        { "123456789/0", "'123456789/0' has more than 8 hexadecimal digits on one side of '/'" },
        { "0/123456789", "'0/123456789' has more than 8 hexadecimal digits on one side of '/'" },
        { "1/2/3", "'1/2/3' contains '/' (U+002F) at index 3" },
        { "16/B374D84Z", "'16/B374D84Z' contains 'Z' (U+005A) at index 10" },
        { "1\n", @"'1\u000A' contains U+000A at index 1" },
        { "ß", "'ß' (U+00DF) at index 0" },
    };

    [Theory]
    [MemberData(nameof(Garbage))]
    public void Parse_rejects_garbage_with_a_message_naming_the_input(string text, string expectedMessagePart)
    {
        var exception = Assert.Throws<FormatException>(() => ConsistencyToken.Parse(text));

        Assert.Contains(expectedMessagePart, exception.Message, StringComparison.Ordinal);
        Assert.Contains("1 to 16 hexadecimal digits", exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Garbage))]
    public void TryParse_returns_false_for_garbage(string text, string expectedMessagePart)
    {
        _ = expectedMessagePart;

        Assert.False(ConsistencyToken.TryParse(text, out var token));
        Assert.Equal(default, token);
    }

    [Fact]
    public void Parse_message_truncates_a_huge_input()
    {
        var huge = new string('f', 5_000);

        var exception = Assert.Throws<FormatException>(() => ConsistencyToken.Parse(huge));

        Assert.Contains("is 5000 characters long", exception.Message, StringComparison.Ordinal);
        Assert.Contains("(first 64 of 5000 characters)", exception.Message, StringComparison.Ordinal);
        Assert.True(exception.Message.Length < 500, exception.Message);
    }

    [Fact]
    public void Parse_rejects_null_and_TryParse_returns_false()
    {
        Assert.Throws<ArgumentNullException>(() => ConsistencyToken.Parse(null!));
        Assert.False(ConsistencyToken.TryParse(null, out _));
    }

    [Fact]
    public void Tokens_are_ordered_by_wal_position()
    {
        var earlier = ConsistencyToken.Parse("16/B374D848");
        var later = ConsistencyToken.Parse("17/0");
        var same = ConsistencyToken.Parse("16b374d848");

        Assert.True(earlier < later);
        Assert.True(later > earlier);
        Assert.True(earlier <= same);
        Assert.True(earlier >= same);
        Assert.False(earlier > same);
        Assert.False(earlier < same);
        Assert.True(earlier.CompareTo(later) < 0);
        Assert.True(later.CompareTo(earlier) > 0);
        Assert.Equal(0, earlier.CompareTo(same));

        ConsistencyToken[] tokens = [later, default, earlier];
        Array.Sort(tokens);
        Assert.Equal([default, earlier, later], tokens);
    }

    [Fact]
    public void Ordering_compares_the_full_64_bits_unsigned()
    {
        var high = ConsistencyToken.FromLsn(new NpgsqlLogSequenceNumber(ulong.MaxValue));
        var low = ConsistencyToken.FromLsn(new NpgsqlLogSequenceNumber(1));

        Assert.True(high > low);
        Assert.True(ConsistencyToken.Parse("1/0") > ConsistencyToken.Parse("0/FFFFFFFF"));
    }

    [Fact]
    public void Equality_is_by_wal_position()
    {
        var a = ConsistencyToken.Parse("16/B374D848");
        var b = ConsistencyToken.Parse("16b374d848");
        var c = ConsistencyToken.Parse("16b374d849");

        Assert.True(a == b);
        Assert.False(a != b);
        Assert.True(a.Equals((object)b));
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.True(a != c);
        Assert.False(a.Equals((object)"16b374d848"));
    }

    [Fact]
    public void FromLsn_and_Lsn_round_trip()
    {
        var lsn = NpgsqlLogSequenceNumber.Parse("16/B374D848");

        Assert.Equal(lsn, ConsistencyToken.FromLsn(lsn).Lsn);
    }

    [Fact]
    public void IsReachedBy_is_true_from_the_token_position_on()
    {
        var token = ConsistencyToken.Parse("16/B374D848");

        Assert.False(token.IsReachedBy(NpgsqlLogSequenceNumber.Parse("0/0")));
        Assert.False(token.IsReachedBy(NpgsqlLogSequenceNumber.Parse("16/B374D847")));
        Assert.False(token.IsReachedBy(NpgsqlLogSequenceNumber.Parse("15/FFFFFFFF")));
        Assert.True(token.IsReachedBy(NpgsqlLogSequenceNumber.Parse("16/B374D848")));
        Assert.True(token.IsReachedBy(NpgsqlLogSequenceNumber.Parse("16/B374D849")));
        Assert.True(token.IsReachedBy(NpgsqlLogSequenceNumber.Parse("17/0")));
    }

    [Fact]
    public void IsReachedBy_at_the_extremes()
    {
        var max = ConsistencyToken.FromLsn(new NpgsqlLogSequenceNumber(ulong.MaxValue));

        Assert.True(max.IsReachedBy(new NpgsqlLogSequenceNumber(ulong.MaxValue)));
        Assert.False(max.IsReachedBy(new NpgsqlLogSequenceNumber(ulong.MaxValue - 1)));
        Assert.True(default(ConsistencyToken).IsReachedBy(NpgsqlLogSequenceNumber.Invalid));
    }
}
