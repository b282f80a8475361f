using Scaling.Locks;

namespace Scaling.Locks.Tests;

public class RedlockTimingTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 2)]
    [InlineData(5, 3)]
    [InlineData(7, 4)]
    [InlineData(int.MaxValue, 1_073_741_824)]
    public void Quorum_is_a_strict_majority(int masterCount, int expected)
    {
        Assert.Equal(expected, RedlockTiming.Quorum(masterCount));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(-1)]
    [InlineData(-3)]
    [InlineData(int.MinValue)]
    public void Quorum_rejects_counts_that_are_not_positive_and_odd(int masterCount)
    {
        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => RedlockTiming.Quorum(masterCount));

        Assert.Equal("masterCount", exception.ParamName);
        Assert.Equal(masterCount, exception.ActualValue);
        Assert.Contains("positive odd number", exception.Message, StringComparison.Ordinal);
        Assert.Contains($"it was {masterCount}.", exception.Message, StringComparison.Ordinal);
    }

    public static TheoryData<TimeSpan, TimeSpan> Drifts => new()
    {
        { TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(102) },
        { TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(302) },
        { TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(3) },
        { TimeSpan.FromMilliseconds(1), TimeSpan.FromTicks(20_100) },
        // 1% of 1 tick is rounded up to a whole tick.
        { TimeSpan.FromTicks(1), TimeSpan.FromMilliseconds(2) + TimeSpan.FromTicks(1) },
        { TimeSpan.FromTicks(101), TimeSpan.FromMilliseconds(2) + TimeSpan.FromTicks(2) },
    };

    [Theory]
    [MemberData(nameof(Drifts))]
    public void ClockDrift_is_one_percent_of_ttl_plus_two_milliseconds(TimeSpan ttl, TimeSpan expected)
    {
        Assert.Equal(expected, RedlockTiming.ClockDrift(ttl));
    }

    public static TheoryData<TimeSpan, TimeSpan, TimeSpan> Validities => new()
    {
        { TimeSpan.FromSeconds(10), TimeSpan.Zero, TimeSpan.FromMilliseconds(9_898) },
        { TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(9_848) },
        { TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(9_898), TimeSpan.Zero },
        { TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(9_900), TimeSpan.FromMilliseconds(-2) },
        { TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(-10_102) },
        { TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(87) },
    };

    [Theory]
    [MemberData(nameof(Validities))]
    public void Validity_is_ttl_minus_elapsed_minus_drift(TimeSpan ttl, TimeSpan elapsed, TimeSpan expected)
    {
        Assert.Equal(expected, RedlockTiming.Validity(ttl, elapsed));
    }

    [Fact]
    public void Validity_is_not_positive_once_elapsed_plus_drift_reaches_ttl()
    {
        var ttl = TimeSpan.FromSeconds(1);
        var drift = RedlockTiming.ClockDrift(ttl);

        Assert.True(RedlockTiming.Validity(ttl, ttl - drift - TimeSpan.FromTicks(1)) > TimeSpan.Zero);
        Assert.Equal(TimeSpan.Zero, RedlockTiming.Validity(ttl, ttl - drift));
        Assert.True(RedlockTiming.Validity(ttl, ttl) < TimeSpan.Zero);
    }

    [Fact]
    public void Validity_saturates_instead_of_overflowing()
    {
        Assert.Equal(TimeSpan.MinValue, RedlockTiming.Validity(TimeSpan.FromTicks(1), TimeSpan.MaxValue));
        Assert.True(RedlockTiming.Validity(TimeSpan.MaxValue, TimeSpan.Zero) > TimeSpan.Zero);
    }

    public static TheoryData<TimeSpan> NonPositiveTtls => new()
    {
        TimeSpan.Zero,
        TimeSpan.FromTicks(-1),
        TimeSpan.FromSeconds(-10),
        TimeSpan.MinValue,
    };

    [Theory]
    [MemberData(nameof(NonPositiveTtls))]
    public void ClockDrift_and_Validity_reject_a_ttl_that_is_not_positive(TimeSpan ttl)
    {
        var drift = Assert.Throws<ArgumentOutOfRangeException>(() => RedlockTiming.ClockDrift(ttl));
        var validity = Assert.Throws<ArgumentOutOfRangeException>(() => RedlockTiming.Validity(ttl, TimeSpan.Zero));

        Assert.Equal("ttl", drift.ParamName);
        Assert.Equal("ttl", validity.ParamName);
        Assert.Contains("must be greater than zero", drift.Message, StringComparison.Ordinal);
        Assert.Contains($"it was {ttl}.", drift.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validity_rejects_a_negative_elapsed_time()
    {
        var exception = Assert.Throws<ArgumentOutOfRangeException>(
            () => RedlockTiming.Validity(TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(-1)));

        Assert.Equal("elapsed", exception.ParamName);
        Assert.Contains("cannot be negative", exception.Message, StringComparison.Ordinal);
    }
}
