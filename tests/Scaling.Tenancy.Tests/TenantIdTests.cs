using Scaling.Tenancy;

namespace Scaling.Tenancy.Tests;

public class TenantIdTests
{
    public static TheoryData<string> ValidIds => new()
    {
        "a",
        "7",
        "acme",
        "acme-corp",
        "a--b",
        "123",
        "9lives",
        "x1-y2-z3",
        new string('a', TenantId.MaxLength),
        "a" + new string('-', TenantId.MaxLength - 2) + "z",
    };

    public static TheoryData<string, string> InvalidIds => new()
    {
        { "", "cannot be empty" },
        { new string('a', 64), "is 64 characters long; a tenant id is at most 63" },
        { "-acme", "starts with '-'" },
        { "acme-", "ends with '-'" },
        { "-", "starts with '-'" },
        { "Acme", "uppercase letter 'A' at index 0" },
        { "acmE", "uppercase letter 'E' at index 3" },
        { "café", "'é' (U+00E9) at index 3" },
        { "acme.example", "'.' (U+002E) at index 4" },
        { "acme corp", "' ' (U+0020) at index 4" },
        { "acme_corp", "'_' (U+005F) at index 4" },
        { " acme", "' ' (U+0020) at index 0" },
        { "acme\n", "U+000A at index 4" },
        { "ａcme", "'ａ' (U+FF41) at index 0" },
        { "acme😀", "U+D83D at index 4" },
    };

    [Theory]
    [MemberData(nameof(ValidIds))]
    public void Parse_accepts_valid_ids_unchanged(string text)
    {
        var id = TenantId.Parse(text);

        Assert.Equal(text, id.Value);
        Assert.Equal(text, id.ToString());
        Assert.True(TenantId.TryParse(text, out var parsed));
        Assert.Equal(id, parsed);
    }

    [Theory]
    [MemberData(nameof(InvalidIds))]
    public void Parse_rejects_invalid_ids_with_a_precise_message(string text, string expectedMessagePart)
    {
        var exception = Assert.Throws<FormatException>(() => TenantId.Parse(text));

        Assert.Contains(expectedMessagePart, exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(InvalidIds))]
    public void TryParse_returns_false_and_default_for_invalid_ids(string text, string expectedMessagePart)
    {
        _ = expectedMessagePart;

        Assert.False(TenantId.TryParse(text, out var id));
        Assert.Equal(default, id);
    }

    [Fact]
    public void Parse_message_names_the_input()
    {
        var exception = Assert.Throws<FormatException>(() => TenantId.Parse("acme.example"));

        Assert.Contains("'acme.example'", exception.Message, StringComparison.Ordinal);
        Assert.Contains("only lowercase ASCII letters (a-z), digits (0-9) and '-' are allowed", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_message_for_uppercase_says_it_is_not_lowercased()
    {
        var exception = Assert.Throws<FormatException>(() => TenantId.Parse("ACME"));

        Assert.Contains("rejected rather than lowercased", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_message_truncates_a_huge_input()
    {
        var huge = new string('a', 10_000);

        var exception = Assert.Throws<FormatException>(() => TenantId.Parse(huge));

        Assert.Contains("is 10000 characters long", exception.Message, StringComparison.Ordinal);
        Assert.Contains("(first 64 of 10000 characters)", exception.Message, StringComparison.Ordinal);
        Assert.True(exception.Message.Length < 400, exception.Message);
    }

    [Fact]
    public void Parse_message_escapes_control_characters()
    {
        var exception = Assert.Throws<FormatException>(() => TenantId.Parse("ab\r\nX-Injected: 1"));

        Assert.DoesNotContain('\r', exception.Message);
        Assert.DoesNotContain('\n', exception.Message);
        Assert.Contains(@"'ab\u000D\u000AX-Injected: 1'", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_rejects_null()
    {
        Assert.Throws<ArgumentNullException>(() => TenantId.Parse(null!));
    }

    [Fact]
    public void TryParse_returns_false_for_null()
    {
        Assert.False(TenantId.TryParse(null, out var id));
        Assert.Equal(default, id);
    }

    [Fact]
    public void Equality_is_by_value()
    {
        var a = TenantId.Parse("acme");
        var b = TenantId.Parse(new string("acme".ToCharArray()));
        var c = TenantId.Parse("globex");

        Assert.True(a == b);
        Assert.False(a != b);
        Assert.True(a.Equals((object)b));
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.True(a != c);
        Assert.False(a.Equals(c));
        Assert.False(a.Equals("acme"));
    }

    [Fact]
    public void Default_is_empty_and_equal_only_to_default()
    {
        TenantId unset = default;

        Assert.Equal(string.Empty, unset.Value);
        Assert.Equal(string.Empty, unset.ToString());
        Assert.True(unset == default);
        Assert.True(unset != TenantId.Parse("a"));
        Assert.Equal(default(TenantId).GetHashCode(), unset.GetHashCode());
    }
}
