using Scaling.Testing;
using StackExchange.Redis;

namespace Scaling.RateLimit.Tests;

/// <summary>Both algorithms on the real Redis: limits, remaining counts, retry-after, Redis's clock, memory shape.</summary>
[Collection(ServersCollection.Name)]
public sealed class SlidingWindowTests(ServersFixture fixture)
{
    [Theory]
    [InlineData(RateLimitAlgorithm.SlidingWindowCounter)]
    [InlineData(RateLimitAlgorithm.SlidingLog)]
    public async Task Admits_exactly_the_limit_then_rejects_with_retry_after(RateLimitAlgorithm algorithm)
    {
        await using var limiter = await RateLimitTestKit.Limiter(RateLimitTestKit.Options(fixture.Servers)).WarmAsync();
        var policy = RateLimitTestKit.Policy("per-minute", 5, 60, algorithm);
        var check = new RateLimitCheck("u:1", "test").Add(policy);

        for (var expectedRemaining = 4; expectedRemaining >= 0; expectedRemaining--)
        {
            var admitted = await limiter.CheckAsync(check);
            Assert.True(admitted.IsAllowed);
            Assert.False(admitted.IsDegraded);
            Assert.Equal(expectedRemaining, Assert.Single(admitted.Policies).Remaining);
            Assert.Null(admitted.RejectedBy);
        }

        var rejected = await limiter.CheckAsync(check);

        Assert.False(rejected.IsAllowed);
        Assert.Equal("per-minute", rejected.RejectedBy);
        Assert.Equal(0, Assert.Single(rejected.Policies).Remaining);
        Assert.InRange(rejected.RetryAfter, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(120));
    }

    [Theory]
    [InlineData(RateLimitAlgorithm.SlidingWindowCounter)]
    [InlineData(RateLimitAlgorithm.SlidingLog)]
    public async Task A_rejected_client_is_admitted_again_once_retry_after_has_passed(RateLimitAlgorithm algorithm)
    {
        await using var limiter = await RateLimitTestKit.Limiter(RateLimitTestKit.Options(fixture.Servers)).WarmAsync();
        var check = new RateLimitCheck("u:2", "test").Add(RateLimitTestKit.Policy("per-second", 3, 1, algorithm));
        for (var i = 0; i < 3; i++)
        {
            Assert.True((await limiter.CheckAsync(check)).IsAllowed);
        }

        var rejected = await limiter.CheckAsync(check);
        Assert.False(rejected.IsAllowed);
        Assert.InRange(rejected.RetryAfter, TimeSpan.FromTicks(1), TimeSpan.FromSeconds(2));

        await Task.Delay(rejected.RetryAfter + TimeSpan.FromMilliseconds(20));

        Assert.True((await limiter.CheckAsync(check)).IsAllowed);
    }

    [Fact]
    public async Task Time_comes_from_redis_and_log_entries_are_stamped_with_it()
    {
        var options = RateLimitTestKit.Options(fixture.Servers);
        await using var limiter = await RateLimitTestKit.Limiter(options).WarmAsync();
        await using var probe = await RedisProbe.ConnectAsync(fixture.Servers);
        var check = new RateLimitCheck("u:clock", "test").Add(RateLimitTestKit.Policy("log", 10, 60, RateLimitAlgorithm.SlidingLog));

        var before = await probe.Server.TimeAsync();
        var decision = await limiter.CheckAsync(check);
        var after = await probe.Server.TimeAsync();

        var micros = decision.ServerTimeMicroseconds;
        Assert.InRange(micros, Micros(before), Micros(after));
        var entries = await probe.Database.SortedSetRangeByRankWithScoresAsync(options.KeyPrefix + "{u:clock}:log");
        Assert.Equal(micros, (long)Assert.Single(entries).Score);
    }

    [Fact]
    public async Task Counter_mode_keeps_one_small_value_per_key_while_log_mode_keeps_one_entry_per_request()
    {
        var options = RateLimitTestKit.Options(fixture.Servers);
        await using var limiter = await RateLimitTestKit.Limiter(options).WarmAsync();
        await using var probe = await RedisProbe.ConnectAsync(fixture.Servers);
        var check = new RateLimitCheck("u:memory", "test")
            .Add(RateLimitTestKit.Policy("counter", 1_000, 60))
            .Add(RateLimitTestKit.Policy("log", 1_000, 60, RateLimitAlgorithm.SlidingLog));

        for (var i = 0; i < 300; i++)
        {
            Assert.True((await limiter.CheckAsync(check)).IsAllowed);
        }

        var counterKey = options.KeyPrefix + "{u:memory}:counter";
        var logKey = options.KeyPrefix + "{u:memory}:log";
        Assert.Equal(RedisType.Hash, await probe.Database.KeyTypeAsync(counterKey));
        Assert.InRange(await probe.Database.HashLengthAsync(counterKey), 4, 20); // h, n, o and at most 17 sub-window counts
        Assert.Equal(300, await probe.Database.SortedSetLengthAsync(logKey));
        var counterBytes = (long)await probe.Database.ExecuteAsync("MEMORY", "USAGE", counterKey);
        var logBytes = (long)await probe.Database.ExecuteAsync("MEMORY", "USAGE", logKey);
        Assert.True(counterBytes < 300, $"counter key: {counterBytes} bytes");
        Assert.True(logBytes > 300 * 10, $"log key: {logBytes} bytes for 300 entries");
        Assert.NotNull(await probe.Database.KeyTimeToLiveAsync(counterKey));
        Assert.NotNull(await probe.Database.KeyTimeToLiveAsync(logKey));
    }

    [Fact]
    public async Task A_counter_of_the_previous_format_is_carried_over_without_admitting_more()
    {
        var options = RateLimitTestKit.Options(fixture.Servers);
        await using var limiter = await RateLimitTestKit.Limiter(options).WarmAsync();
        await using var probe = await RedisProbe.ConnectAsync(fixture.Servers);
        var key = options.KeyPrefix + "{u:old}:counter";

        // The previous format: a MessagePack string {window index, 16 counts and 16 last offsets of the current window,
        // the same of the previous one}: 4 requests in the current 60 s window and 3 in the previous one.
        await probe.Database.ScriptEvaluateAsync(
            """
            local t = redis.call('TIME')
            local st = {math.floor((tonumber(t[1]) * 1000000 + tonumber(t[2])) / 60000000)}
            for k = 2, 65 do st[k] = 0 end
            st[2], st[18], st[34], st[50] = 4, 1, 3, 60000
            redis.call('SET', KEYS[1], cmsgpack.pack(st), 'PX', 120000)
            """,
            [key]);
        var check = new RateLimitCheck("u:old", "test").Add(RateLimitTestKit.Policy("counter", 10, 60));

        Assert.Equal(3, Assert.Single((await limiter.CheckAsync(check, permits: 0)).Policies).Remaining);
        for (var i = 0; i < 3; i++)
        {
            Assert.True((await limiter.CheckAsync(check)).IsAllowed);
        }

        Assert.False((await limiter.CheckAsync(check)).IsAllowed);
        Assert.Equal(RedisType.Hash, await probe.Database.KeyTypeAsync(key));
        Assert.Equal(10, (long)await probe.Database.HashGetAsync(key, "n"));
    }

    [Fact]
    public async Task Zero_permits_looks_without_counting_and_more_permits_than_a_limit_is_an_argument_error()
    {
        await using var limiter = await RateLimitTestKit.Limiter(RateLimitTestKit.Options(fixture.Servers)).WarmAsync();
        var check = new RateLimitCheck("u:permits", "test").Add(RateLimitTestKit.Policy("small", 2, 60));

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(2, Assert.Single((await limiter.CheckAsync(check, permits: 0)).Policies).Remaining);
        }

        Assert.True((await limiter.CheckAsync(check, permits: 2)).IsAllowed);
        Assert.False((await limiter.CheckAsync(check)).IsAllowed);
        var exception = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await limiter.CheckAsync(check, permits: 3));
        Assert.Contains("policy 'small' allows 2", exception.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await limiter.CheckAsync(check, permits: -1));
        await Assert.ThrowsAsync<ArgumentException>(async () => await limiter.CheckAsync(new RateLimitCheck("u:none", "test")));
    }

    private static long Micros(DateTime time) => (time - DateTime.UnixEpoch).Ticks / 10;
}
