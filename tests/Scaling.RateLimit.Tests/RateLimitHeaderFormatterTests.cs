using Scaling.RateLimit;

namespace Scaling.RateLimit.Tests;

public class RateLimitHeaderFormatterTests
{
    [Fact]
    public void Header_names_are_those_of_the_draft()
    {
        Assert.Equal("RateLimit-Policy", RateLimitHeaderFormatter.PolicyHeaderName);
        Assert.Equal("RateLimit", RateLimitHeaderFormatter.RateLimitHeaderName);
    }

    [Fact]
    public void FormatPolicy_formats_one_policy()
    {
        Assert.Equal("\"anonymous\";q=100;w=60", RateLimitHeaderFormatter.FormatPolicy(RateLimitTiers.Anonymous));
        Assert.Equal("\"authenticated\";q=1000;w=60", RateLimitHeaderFormatter.FormatPolicy(RateLimitTiers.Authenticated));
        Assert.Equal("\"premium\";q=5000;w=60", RateLimitHeaderFormatter.FormatPolicy(RateLimitTiers.Premium));
    }

    [Fact]
    public void FormatPolicy_formats_several_policies_as_a_list_in_order()
    {
        var burst = new RateLimitTier("burst", 10, TimeSpan.FromSeconds(1));
        var daily = new RateLimitTier("daily", 20_000, TimeSpan.FromDays(1));

        var value = RateLimitHeaderFormatter.FormatPolicy(burst, RateLimitTiers.Anonymous, daily);

        Assert.Equal("\"burst\";q=10;w=1, \"anonymous\";q=100;w=60, \"daily\";q=20000;w=86400", value);
    }

    [Fact]
    public void The_policy_field_value_kept_for_a_list_of_policies_is_that_lists_in_order_and_past_the_capacity_still_formatted()
    {
        var burst = new RateLimitTier("burst", 10, TimeSpan.FromSeconds(1));
        var check = new RateLimitCheck("p", "t").Add(burst).Add(RateLimitTiers.Anonymous);
        var reversed = new RateLimitCheck("p", "t").Add(RateLimitTiers.Anonymous).Add(burst);
        var sameByValue = new RateLimitCheck("p", "t").Add(new RateLimitTier("burst", 10, TimeSpan.FromSeconds(1))).Add(RateLimitTiers.Anonymous);
        var otherLimit = new RateLimitCheck("p", "t").Add(new RateLimitTier("burst", 11, TimeSpan.FromSeconds(1))).Add(RateLimitTiers.Anonymous);

        Assert.Equal("\"burst\";q=10;w=1, \"anonymous\";q=100;w=60", PolicyFieldValues.For(check.Rules));
        Assert.Equal("\"burst\";q=10;w=1, \"anonymous\";q=100;w=60", PolicyFieldValues.For(check.Rules));
        Assert.Same(PolicyFieldValues.For(check.Rules), PolicyFieldValues.For(sameByValue.Rules));
        Assert.Equal("\"anonymous\";q=100;w=60, \"burst\";q=10;w=1", PolicyFieldValues.For(reversed.Rules));
        Assert.Equal("\"burst\";q=11;w=1, \"anonymous\";q=100;w=60", PolicyFieldValues.For(otherLimit.Rules));

        // More lists than are kept: each is still right.
        for (var limit = 1; limit <= PolicyFieldValues.Capacity + 100; limit++)
        {
            var one = new RateLimitCheck("p", "t").Add(new RateLimitTier("many", limit, TimeSpan.FromMinutes(1)));
            Assert.Equal($"\"many\";q={limit};w=60", PolicyFieldValues.For(one.Rules));
        }
    }

    [Fact]
    public void FormatPolicy_accepts_an_enumerable()
    {
        var policies = new List<RateLimitTier> { RateLimitTiers.Anonymous, RateLimitTiers.Premium };

        Assert.Equal("\"anonymous\";q=100;w=60, \"premium\";q=5000;w=60", RateLimitHeaderFormatter.FormatPolicy(policies));
    }

    [Fact]
    public void FormatPolicy_escapes_quotes_and_backslashes_in_names()
    {
        var tier = new RateLimitTier("say \"hi\" \\o/", 5, TimeSpan.FromSeconds(10));

        Assert.Equal("\"say \\\"hi\\\" \\\\o/\";q=5;w=10", RateLimitHeaderFormatter.FormatPolicy(tier));
    }

    [Fact]
    public void FormatPolicy_rejects_an_empty_list()
    {
        var span = Assert.Throws<ArgumentException>(() => RateLimitHeaderFormatter.FormatPolicy(ReadOnlySpan<RateLimitTier>.Empty));
        var enumerable = Assert.Throws<ArgumentException>(() => RateLimitHeaderFormatter.FormatPolicy(new List<RateLimitTier>()));

        Assert.Contains("At least one policy is required", span.Message, StringComparison.Ordinal);
        Assert.Equal("policies", enumerable.ParamName);
    }

    [Fact]
    public void FormatPolicy_rejects_null()
    {
        Assert.Throws<ArgumentNullException>(() => RateLimitHeaderFormatter.FormatPolicy((IEnumerable<RateLimitTier>)null!));

        var exception = Assert.Throws<ArgumentException>(() => RateLimitHeaderFormatter.FormatPolicy(RateLimitTiers.Anonymous, null!));
        Assert.Contains("The policy at index 1 is null.", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FormatRateLimit_formats_remaining_and_reset()
    {
        Assert.Equal(
            "\"anonymous\";r=42;t=17",
            RateLimitHeaderFormatter.FormatRateLimit(RateLimitTiers.Anonymous, 42, TimeSpan.FromSeconds(17)));
    }

    public static TheoryData<TimeSpan, long> Resets => new()
    {
        { TimeSpan.FromSeconds(17), 17 },
        { TimeSpan.FromSeconds(16.2), 17 },
        { TimeSpan.FromSeconds(16) + TimeSpan.FromTicks(1), 17 },
        { TimeSpan.FromTicks(1), 1 },
        { TimeSpan.FromMilliseconds(999), 1 },
        { TimeSpan.FromSeconds(1), 1 },
        { TimeSpan.Zero, 0 },
        { TimeSpan.FromTicks(-1), 0 },
        { TimeSpan.FromSeconds(-30), 0 },
        { TimeSpan.MinValue, 0 },
        { TimeSpan.MaxValue, 922_337_203_686 },
    };

    [Theory]
    [MemberData(nameof(Resets))]
    public void FormatRateLimit_rounds_reset_up_to_whole_seconds_and_never_below_zero(TimeSpan resetAfter, long expectedSeconds)
    {
        var value = RateLimitHeaderFormatter.FormatRateLimit(RateLimitTiers.Premium, 0, resetAfter);

        Assert.Equal($"\"premium\";r=0;t={expectedSeconds}", value);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(100)]
    public void FormatRateLimit_accepts_remaining_from_zero_to_the_limit(long remaining)
    {
        Assert.Equal(
            $"\"anonymous\";r={remaining};t=60",
            RateLimitHeaderFormatter.FormatRateLimit(RateLimitTiers.Anonymous, remaining, TimeSpan.FromMinutes(1)));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(101)]
    [InlineData(long.MinValue)]
    [InlineData(long.MaxValue)]
    public void FormatRateLimit_rejects_remaining_outside_zero_to_the_limit(long remaining)
    {
        var exception = Assert.Throws<ArgumentOutOfRangeException>(
            () => RateLimitHeaderFormatter.FormatRateLimit(RateLimitTiers.Anonymous, remaining, TimeSpan.FromSeconds(1)));

        Assert.Equal("remaining", exception.ParamName);
        Assert.Contains(
            $"The remaining quota of policy 'anonymous' must be between 0 and its permit limit 100; it was {remaining}.",
            exception.Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public void FormatRateLimit_escapes_the_name()
    {
        var tier = new RateLimitTier("a\"b\\c", 3, TimeSpan.FromSeconds(1));

        Assert.Equal("\"a\\\"b\\\\c\";r=3;t=1", RateLimitHeaderFormatter.FormatRateLimit(tier, 3, TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void FormatRateLimit_rejects_a_null_policy()
    {
        Assert.Throws<ArgumentNullException>(() => RateLimitHeaderFormatter.FormatRateLimit(null!, 0, TimeSpan.Zero));
    }

    [Fact]
    public void Formatted_values_are_printable_ascii_only()
    {
        var tier = new RateLimitTier(" !\"#\\~", 1, TimeSpan.FromSeconds(1));

        var policy = RateLimitHeaderFormatter.FormatPolicy(tier, RateLimitTiers.Premium);
        var rateLimit = RateLimitHeaderFormatter.FormatRateLimit(tier, 1, TimeSpan.FromSeconds(0.5));

        Assert.All(policy + rateLimit, c => Assert.InRange(c, ' ', '~'));
    }
}
