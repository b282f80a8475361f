using Scaling.Testing;

namespace Scaling.RateLimit.Tests;

/// <summary>Every policy of a check in one script call, all or nothing, on keys that share one hash tag.</summary>
[Collection(ServersCollection.Name)]
public sealed class AtomicityTests(ServersFixture fixture)
{
    [Theory]
    [InlineData(RateLimitAlgorithm.SlidingWindowCounter)]
    [InlineData(RateLimitAlgorithm.SlidingLog)]
    public async Task Policies_are_consumed_together_or_not_at_all(RateLimitAlgorithm algorithm)
    {
        await using var limiter = await RateLimitTestKit.Limiter(RateLimitTestKit.Options(fixture.Servers)).WarmAsync();
        var check = new RateLimitCheck("t:acme", "premium")
            .Add(RateLimitTestKit.Policy("burst", 10, 60, algorithm), "u:1")
            .Add(RateLimitTestKit.Policy("tier", 10, 3_600, algorithm), "u:1")
            .Add(RateLimitTestKit.Policy("tenant-daily", 2, 86_400, algorithm));

        Assert.True((await limiter.CheckAsync(check)).IsAllowed);
        Assert.True((await limiter.CheckAsync(check)).IsAllowed);
        for (var i = 0; i < 5; i++)
        {
            var rejected = await limiter.CheckAsync(check);
            Assert.False(rejected.IsAllowed);
            Assert.Equal("tenant-daily", rejected.RejectedBy);
        }

        // The rejected checks consumed nothing from the policies that would have allowed them.
        var look = await limiter.CheckAsync(check, permits: 0);
        Assert.Equal([8L, 8L, 0L], look.Policies.Select(p => p.Remaining));
    }

    [Fact]
    public async Task One_check_is_one_EVALSHA_and_a_flushed_script_cache_is_reloaded()
    {
        await using var limiter = await RateLimitTestKit.Limiter(RateLimitTestKit.Options(fixture.Servers)).WarmAsync();
        await using var probe = await RedisProbe.ConnectAsync(fixture.Servers);
        var check = new RateLimitCheck("u:trips", "test")
            .Add(RateLimitTestKit.Policy("burst", 100, 1))
            .Add(RateLimitTestKit.Policy("tier", 1_000, 60, RateLimitAlgorithm.SlidingLog))
            .Add(RateLimitTestKit.Policy("daily", 10_000, 86_400));
        await limiter.CheckAsync(check);

        var evalSha = await probe.CallsAsync("evalsha");
        var eval = await probe.CallsAsync("eval");
        for (var i = 0; i < 20; i++)
        {
            Assert.True((await limiter.CheckAsync(check)).IsAllowed);
        }

        Assert.Equal(evalSha + 20, await probe.CallsAsync("evalsha"));
        Assert.Equal(eval, await probe.CallsAsync("eval"));

        await probe.Database.ExecuteAsync("SCRIPT", "FLUSH");
        var afterFlush = await limiter.CheckAsync(check);

        Assert.True(afterFlush.IsAllowed);
        Assert.False(afterFlush.IsDegraded);
        Assert.Equal(eval + 1, await probe.CallsAsync("eval"));
        Assert.Equal(1_000 - 22, afterFlush.Policies[1].Remaining);
    }

    [Fact]
    public async Task All_keys_of_a_check_share_the_partitions_hash_tag_and_untrusted_values_are_bounded()
    {
        var options = RateLimitTestKit.Options(fixture.Servers);
        await using var limiter = await RateLimitTestKit.Limiter(options).WarmAsync();
        await using var probe = await RedisProbe.ConnectAsync(fixture.Servers);
        var hostileTenant = "t:{evil}" + new string('x', 10_000);
        var check = new RateLimitCheck(hostileTenant, "test")
            .Add(RateLimitTestKit.Policy("tier", 10, 60), "u:{other}\r\n" + new string('y', 5_000))
            .Add(RateLimitTestKit.Policy("log", 10, 60, RateLimitAlgorithm.SlidingLog), "ip:203.0.113.7")
            .Add(RateLimitTestKit.Policy("tenant", 10, 60));

        Assert.True((await limiter.CheckAsync(check)).IsAllowed);

        string[] keys = [.. (await probe.KeysAsync(options.KeyPrefix)).Where(k => !k.Contains("{warm-up}", StringComparison.Ordinal))];
        Assert.Equal(3, keys.Length);
        Assert.All(keys, key =>
        {
            Assert.True(key.Length < 120, key);
            Assert.Equal(1, key.Count(c => c == '{'));
            Assert.Equal(1, key.Count(c => c == '}'));
            Assert.Equal(check.Partition, HashTag(key));
            Assert.All(key, c => Assert.InRange(c, '!', '~'));
        });
        Assert.Contains(keys, k => k.EndsWith(":log:ip:203.0.113.7", StringComparison.Ordinal));
    }

    private static string HashTag(string key)
    {
        var open = key.IndexOf('{', StringComparison.Ordinal);
        var close = key.IndexOf('}', open + 1);
        return key[(open + 1)..close];
    }
}
