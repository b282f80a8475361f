using Scaling.RateLimit;

namespace Scaling.RateLimit.Tests;

public class RateLimitTierTests
{
    [Fact]
    public void Defaults_are_100_1000_and_5000_per_minute()
    {
        Assert.Equal(new RateLimitTier("anonymous", 100, TimeSpan.FromMinutes(1)), RateLimitTiers.Anonymous);
        Assert.Equal(new RateLimitTier("authenticated", 1_000, TimeSpan.FromMinutes(1)), RateLimitTiers.Authenticated);
        Assert.Equal(new RateLimitTier("premium", 5_000, TimeSpan.FromMinutes(1)), RateLimitTiers.Premium);
    }

    [Fact]
    public void Constructor_sets_properties()
    {
        var tier = new RateLimitTier("burst", 20, TimeSpan.FromSeconds(1));

        Assert.Equal("burst", tier.Name);
        Assert.Equal(20, tier.PermitLimit);
        Assert.Equal(TimeSpan.FromSeconds(1), tier.Window);
    }

    [Fact]
    public void With_expression_derives_a_changed_copy_and_leaves_the_default_alone()
    {
        var generous = RateLimitTiers.Premium with { PermitLimit = 10_000 };

        Assert.Equal(10_000, generous.PermitLimit);
        Assert.Equal("premium", generous.Name);
        Assert.Equal(5_000, RateLimitTiers.Premium.PermitLimit);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("tenant daily quota")]
    [InlineData("with \"quotes\" and \\backslash")]
    [InlineData(" !~")]
    public void Printable_ascii_names_are_accepted(string name)
    {
        Assert.Equal(name, new RateLimitTier(name, 1, TimeSpan.FromSeconds(1)).Name);
    }

    [Theory]
    [InlineData("prémium", "'é' (U+00E9) at index 2")]
    [InlineData("tab\there", "U+0009 at index 3")]
    [InlineData("line\r\nbreak", "U+000D at index 4")]
    [InlineData("del\u007F", "U+007F at index 3")]
    public void Names_outside_printable_ascii_are_rejected(string name, string expectedMessagePart)
    {
        var exception = Assert.Throws<ArgumentException>(() => new RateLimitTier(name, 1, TimeSpan.FromSeconds(1)));

        Assert.Contains(expectedMessagePart, exception.Message, StringComparison.Ordinal);
        Assert.Contains("printable ASCII characters (U+0020 to U+007E)", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_and_null_names_are_rejected()
    {
        var empty = Assert.Throws<ArgumentException>(() => new RateLimitTier("", 1, TimeSpan.FromSeconds(1)));
        Assert.Contains("cannot be empty", empty.Message, StringComparison.Ordinal);

        Assert.Throws<ArgumentNullException>(() => new RateLimitTier(null!, 1, TimeSpan.FromSeconds(1)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void Permit_limit_below_one_is_rejected(int permitLimit)
    {
        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => new RateLimitTier("x", permitLimit, TimeSpan.FromSeconds(1)));

        Assert.Equal(permitLimit, exception.ActualValue);
        Assert.Contains($"permit limit must be at least 1; it was {permitLimit}.", exception.Message, StringComparison.Ordinal);
    }

    public static TheoryData<TimeSpan> InvalidWindows => new()
    {
        TimeSpan.Zero,
        TimeSpan.FromSeconds(-60),
        TimeSpan.FromMilliseconds(999),
        TimeSpan.FromMilliseconds(1_500),
        TimeSpan.FromSeconds(60) + TimeSpan.FromTicks(1),
    };

    [Theory]
    [MemberData(nameof(InvalidWindows))]
    public void Windows_that_are_not_whole_positive_seconds_are_rejected(TimeSpan window)
    {
        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => new RateLimitTier("x", 1, window));

        Assert.Contains("whole number of seconds, at least one second", exception.Message, StringComparison.Ordinal);
        Assert.Contains($"it was {window}.", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void With_expression_is_validated_too()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RateLimitTiers.Anonymous with { PermitLimit = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => RateLimitTiers.Anonymous with { Window = TimeSpan.FromMilliseconds(10) });
        Assert.Throws<ArgumentException>(() => RateLimitTiers.Anonymous with { Name = "ünicode" });
    }
}
