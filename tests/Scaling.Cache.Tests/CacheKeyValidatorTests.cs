using Scaling.Cache;

namespace Scaling.Cache.Tests;

public class CacheKeyValidatorTests
{
    public static TheoryData<string> ValidKeys => new()
    {
        "a",
        "availability:acme:42:2025-01-31",
        "tenant{acme}:booking/17?x=1&y=2",
        "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
        new string('k', CacheKeyValidator.DefaultMaxLength),
    };

    [Theory]
    [MemberData(nameof(ValidKeys))]
    public void Valid_keys_pass(string key)
    {
        CacheKeyValidator.Validate(key);
        Assert.True(CacheKeyValidator.IsValid(key));
    }

    public static TheoryData<string, string> InvalidKeys => new()
    {
        { "", "A cache key cannot be empty." },
        { new string('k', 513), "is 513 characters long; the maximum is 512." },
        { "user 42", "contains ' ' (U+0020) at index 4;" },
        { "user\t42", "contains U+0009 at index 4;" },
        { "user\n42", "contains U+000A at index 4;" },
        { "\0", "contains U+0000 at index 0;" },
        { "key\u007F", "contains U+007F at index 3;" },
        { "café", "contains 'é' (U+00E9) at index 3;" },
        { "key\u00A0", "contains U+00A0 at index 3;" },
        { "emoji😀", "contains U+D83D at index 5;" },
    };

    [Theory]
    [MemberData(nameof(InvalidKeys))]
    public void Validate_says_which_rule_failed(string key, string expectedMessagePart)
    {
        var exception = Assert.Throws<ArgumentException>(() => CacheKeyValidator.Validate(key));

        Assert.Equal("key", exception.ParamName);
        Assert.Contains(expectedMessagePart, exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(InvalidKeys))]
    public void IsValid_returns_false_for_invalid_keys(string key, string expectedMessagePart)
    {
        _ = expectedMessagePart;

        Assert.False(CacheKeyValidator.IsValid(key));
    }

    [Fact]
    public void Lone_surrogate_is_rejected_and_shown_escaped()
    {
        // Not theory data: xunit's theory-data serialization would replace the lone surrogate.
        var key = "lone" + '\uDC00' + "surrogate";

        var exception = Assert.Throws<ArgumentException>(() => CacheKeyValidator.Validate(key));

        Assert.Contains(@"'lone\uDC00surrogate' contains U+DC00 at index 4;", exception.Message, StringComparison.Ordinal);
        Assert.False(CacheKeyValidator.IsValid(key));
    }

    [Fact]
    public void Invalid_character_message_states_the_allowed_range()
    {
        var exception = Assert.Throws<ArgumentException>(() => CacheKeyValidator.Validate("a b"));

        Assert.Contains("'a b'", exception.Message, StringComparison.Ordinal);
        Assert.Contains("printable ASCII characters from '!' (U+0021) to '~' (U+007E)", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Message_for_a_huge_key_is_truncated()
    {
        var huge = new string('k', 100_000) + " ";

        var tooLong = Assert.Throws<ArgumentException>(() => CacheKeyValidator.Validate(huge));
        var badCharacter = Assert.Throws<ArgumentException>(() => CacheKeyValidator.Validate(huge, maxLength: 200_000));

        Assert.Contains("is 100001 characters long; the maximum is 512.", tooLong.Message, StringComparison.Ordinal);
        Assert.Contains("(first 64 of 100001 characters)", tooLong.Message, StringComparison.Ordinal);
        Assert.True(tooLong.Message.Length < 400, tooLong.Message);
        Assert.Contains("contains ' ' (U+0020) at index 100000;", badCharacter.Message, StringComparison.Ordinal);
        Assert.True(badCharacter.Message.Length < 500, badCharacter.Message);
    }

    [Fact]
    public void Message_never_contains_raw_control_characters()
    {
        var exception = Assert.Throws<ArgumentException>(() => CacheKeyValidator.Validate("a\r\nb"));

        Assert.DoesNotContain('\r', exception.Message);
        Assert.DoesNotContain('\n', exception.Message);
        Assert.Contains(@"'a\u000D\u000Ab'", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Custom_max_length_is_honoured_inclusively()
    {
        CacheKeyValidator.Validate("abcd", maxLength: 4);
        Assert.True(CacheKeyValidator.IsValid("abcd", maxLength: 4));

        var exception = Assert.Throws<ArgumentException>(() => CacheKeyValidator.Validate("abcde", maxLength: 4));
        Assert.Contains("is 5 characters long; the maximum is 4.", exception.Message, StringComparison.Ordinal);
        Assert.False(CacheKeyValidator.IsValid("abcde", maxLength: 4));
    }

    [Fact]
    public void Null_key_is_rejected_by_Validate_and_invalid_for_IsValid()
    {
        var exception = Assert.Throws<ArgumentNullException>(() => CacheKeyValidator.Validate(null!));

        Assert.Equal("key", exception.ParamName);
        Assert.False(CacheKeyValidator.IsValid(null));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void Max_length_below_one_is_rejected(int maxLength)
    {
        var validate = Assert.Throws<ArgumentOutOfRangeException>(() => CacheKeyValidator.Validate("key", maxLength));
        var isValid = Assert.Throws<ArgumentOutOfRangeException>(() => CacheKeyValidator.IsValid("key", maxLength));
        Assert.Throws<ArgumentOutOfRangeException>(() => CacheKeyValidator.IsValid(null, maxLength));

        Assert.Equal("maxLength", validate.ParamName);
        Assert.Equal("maxLength", isValid.ParamName);
        Assert.Contains("must be at least 1", validate.Message, StringComparison.Ordinal);
    }
}
