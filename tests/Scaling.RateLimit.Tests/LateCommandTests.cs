using Scaling.Testing;
using StackExchange.Redis;

namespace Scaling.RateLimit.Tests;

/// <summary>
/// No late counts: a check whose caller was answered with the failure mode (Redis paused or down) counts nothing when
/// it reaches Redis later; on the limiter's own connection and on an application multiplexer with the default backlog.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class LateCommandTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Checks_answered_while_Redis_was_paused_count_nothing_once_it_resumes(bool applicationMultiplexer)
    {
        await using var app = applicationMultiplexer ? await ConnectionMultiplexer.ConnectAsync(Servers.Redis[0].EndPoint + ",abortConnect=false,name=app") : null;
        var options = Options(app);
        await using var limiter = await RateLimitTestKit.Limiter(options).WarmAsync();
        await using var probe = await RedisProbe.ConnectAsync(Servers);
        var check = Check();
        try
        {
            await Servers.Redis[0].PauseAsync();
            for (var i = 0; i < 5; i++)
            {
                var decision = await limiter.CheckAsync(check);
                Assert.True(decision.IsDegraded);
                Assert.True(decision.IsAllowed); // FailOpen: the caller was answered without Redis
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }
        finally
        {
            await Servers.Redis[0].ResumeAsync();
        }

        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.DoesNotContain(await probe.KeysAsync(options.KeyPrefix), k => k.Contains("{late}", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Checks_answered_while_Redis_was_down_count_nothing_once_it_is_back(bool applicationMultiplexer)
    {
        await using var app = applicationMultiplexer ? await ConnectionMultiplexer.ConnectAsync(Servers.Redis[0].EndPoint + ",abortConnect=false,connectTimeout=1000,name=app") : null;
        var options = Options(app);
        await using var limiter = await RateLimitTestKit.Limiter(options).WarmAsync();
        var check = Check();
        try
        {
            await Servers.Redis[0].KillAsync();
            for (var i = 0; i < 5; i++)
            {
                Assert.True((await limiter.CheckAsync(check)).IsDegraded);
            }
        }
        finally
        {
            await Servers.Redis[0].RestartAsync();
        }

        await using var probe = await RedisProbe.ConnectAsync(Servers);
        await Eventually.TrueAsync(async () => !(await limiter.CheckAsync(Check("probe"))).IsDegraded, TimeSpan.FromSeconds(15), "the limiter uses Redis again");
        await Task.Delay(TimeSpan.FromSeconds(1));
        var keys = await probe.KeysAsync(options.KeyPrefix);
        Assert.DoesNotContain(keys, k => k.Contains("{late}", StringComparison.Ordinal));
    }

    private static RateLimitCheck Check(string partition = "late") =>
        new RateLimitCheck(partition, "test").Add(RateLimitTestKit.Policy("per-minute", 100, 60, mode: RateLimitFailureMode.FailOpen));

    private ScalingRateLimitOptions Options(IConnectionMultiplexer? app) =>
        RateLimitTestKit.Options(Servers, o =>
        {
            o.RedisTimeout = TimeSpan.FromMilliseconds(200);
            o.BreakerFailureThreshold = 100; // every check goes to Redis: none is skipped by an open breaker
            if (app is not null)
            {
                o.ConnectionMultiplexerFactory = () => Task.FromResult(app);
            }
        });
}
