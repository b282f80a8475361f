using Scaling.Testing;
using StackExchange.Redis;

namespace Scaling.Locks.Tests;

/// <summary>
/// The clock behind every write's deadline: a measurement of Redis's clock whose round trip was slow (a busy process or
/// server) is not used, or its error would eat the write's budget and every write would be refused as late.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class RedisClockTests(ServersFixture fixture)
{
    private static readonly TimeSpan Budget = TimeSpan.FromMilliseconds(250);

    [Fact]
    public async Task A_slow_measurement_is_not_used_and_a_fast_one_is()
    {
        await using var proxy = StallingProxy.Start(fixture.Servers.Redis[0].Port);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(proxy.EndPoint);
        var clock = new RedisClock();

        proxy.Stall();
        var measuring = clock.MeasureAsync(connection, TimeSpan.FromSeconds(5));
        await Task.Delay(300);
        proxy.Resume();
        await measuring;
        AssertDeadlineNear(clock, tolerance: TimeSpan.FromMilliseconds(5)); // no measurement: the clocks are taken to agree

        await clock.MeasureAsync(connection, TimeSpan.FromSeconds(5));
        AssertDeadlineNear(clock, tolerance: TimeSpan.FromMilliseconds(25)); // same machine: offset about 0, error at most 11 ms
    }

    private static void AssertDeadlineNear(RedisClock clock, TimeSpan tolerance)
    {
        var expected = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + (long)Budget.TotalMilliseconds;
        var deadline = clock.Deadline(Budget);
        Assert.InRange(deadline, expected - (long)tolerance.TotalMilliseconds, expected + (long)tolerance.TotalMilliseconds);
    }
}
