using Scaling.Testing;

namespace Scaling.RateLimit.Tests;

/// <summary>
/// <see cref="ScalingRateLimitOptions.MaxReservedPermits"/>: permits counted in Redis ahead of use and then admitted
/// without a round trip, never over a limit, each within the sub-window it was counted in.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class ReservationTests(ServersFixture fixture)
{
    [Fact]
    public async Task A_hot_key_is_admitted_mostly_from_reservations_on_two_instances()
    {
        using var metrics = new MeasurementRecorder();
        var options = RateLimitTestKit.Options(fixture.Servers, o => o.MaxReservedPermits = 1_000);

        var result = await RateLimitTestKit.HammerAsync(options, "p:reserved-roomy", RateLimitAlgorithm.SlidingWindowCounter, 10_000_000, TimeSpan.FromSeconds(2));

        var stores = Stores(metrics);
        Assert.Equal(0, result.Rejected);
        Assert.True(stores.Reserved > 4 * stores.Redis, $"{stores.Reserved} checks were admitted from reservations and {stores.Redis} went to Redis: a hot key should mostly be served without Redis");
    }

    [Fact]
    public async Task Reserved_permits_never_admit_over_the_limit_in_any_sliding_window()
    {
        using var metrics = new MeasurementRecorder();
        var options = RateLimitTestKit.Options(fixture.Servers, o => o.MaxReservedPermits = 1_000);

        // 32 clients on two instances press a limit of 400 per second (sub-windows of 62.5 ms) for 3.5 s; each admission
        // is stamped with Redis's clock (an admission from a reservation: the script's time plus what passed since).
        var result = await RateLimitTestKit.HammerAsync(options, "p:reserved-pressed", RateLimitAlgorithm.SlidingWindowCounter, 400, TimeSpan.FromSeconds(3.5));

        Assert.Equal(0, result.Over);
        Assert.True(result.MaxInWindow <= 400, $"{result.MaxInWindow} admissions in one sliding second; the limit is 400");
        Assert.True(result.Rejected > 0, "the limit was never pressed");
        Assert.True(result.Admitted >= 3 * 200, $"{result.Admitted} admitted in 3.5 s at 400 per second: reservations held clients far below the limit");
        Assert.True(Stores(metrics).Reserved > 0, "no check was admitted from a reservation");
    }

    [Fact]
    public async Task A_reservation_ends_with_its_sub_window_and_counts_down_the_remaining_quota_one_by_one()
    {
        using var metrics = new MeasurementRecorder();
        await using var limiter = await RateLimitTestKit.Limiter(RateLimitTestKit.Options(fixture.Servers, o => o.MaxReservedPermits = 50)).WarmAsync();

        // A 16 s window: sub-windows of 1 s. Checks one after the other for 2.6 s, so that at least two sub-windows end.
        var check = new RateLimitCheck("u:reserved-seq", "reserved").Add(RateLimitTestKit.Policy("seq", 1_000_000, 16));
        var before = metrics.Measurements.Count(m => m.Instrument == "scaling.ratelimit.check.duration");
        var decisions = new List<RateLimitDecision>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(2.6))
        {
            decisions.Add(await limiter.CheckAsync(check));
            await Task.Delay(2);
        }

        var stores = metrics.Measurements.Where(m => m.Instrument == "scaling.ratelimit.check.duration").Skip(before).Select(m => (string)m.Tags["store"]!).ToArray();
        Assert.Equal(decisions.Count, stores.Length);
        Assert.All(decisions, d => Assert.True(d.IsAllowed && !d.IsDegraded));
        Assert.True(stores.Count(s => s == "reserved") > decisions.Count / 2, $"{stores.Count(s => s == "reserved")} of {decisions.Count} checks were admitted from reservations");

        const long SubWindow = 1_000_000; // microseconds
        long? granted = null;
        var redisCalls = 0;
        for (var i = 0; i < decisions.Count; i++)
        {
            var time = decisions[i].ServerTimeMicroseconds;
            if (stores[i] == "redis")
            {
                granted = time;
                redisCalls++;
            }
            else
            {
                Assert.Equal("reserved", stores[i]);
                Assert.NotNull(granted);
                Assert.True(time / SubWindow == granted.Value / SubWindow, $"check {i} was admitted from a reservation at {time} µs, outside the sub-window of its grant at {granted} µs");
            }

            if (i > 0)
            {
                // Nothing leaves a 16 s window in 2.6 s: the remaining quota never rises, and an admission from a reservation
                // takes exactly one from it. (A check that goes to Redis after a reservation expired with permits left takes
                // those too: they stay counted, unused.)
                var (previous, current) = (decisions[i - 1].Policies[0].Remaining, decisions[i].Policies[0].Remaining);
                if (stores[i] == "reserved" && time / SubWindow == decisions[i - 1].ServerTimeMicroseconds / SubWindow)
                {
                    Assert.Equal(previous - 1, current);
                }
                else
                {
                    Assert.True(current <= previous - 1, $"check {i}: remaining {current} after {previous}");
                }
            }
        }

        Assert.True(redisCalls >= 3, $"{redisCalls} checks went to Redis in 2.6 s of 1 s sub-windows: a reservation outlived its sub-window");
    }

    [Fact]
    public async Task A_sliding_log_is_never_reserved()
    {
        using var metrics = new MeasurementRecorder();
        await using var limiter = await RateLimitTestKit.Limiter(RateLimitTestKit.Options(fixture.Servers, o => o.MaxReservedPermits = 50)).WarmAsync();
        var check = new RateLimitCheck("u:reserved-log", "reserved")
            .Add(RateLimitTestKit.Policy("counter", 1_000, 60))
            .Add(RateLimitTestKit.Policy("log", 1_000, 60, RateLimitAlgorithm.SlidingLog));
        var before = Stores(metrics);

        for (var i = 0; i < 40; i++)
        {
            Assert.True((await limiter.CheckAsync(check)).IsAllowed);
        }

        var after = Stores(metrics);
        Assert.Equal(0, after.Reserved - before.Reserved);
        Assert.Equal(40, after.Redis - before.Redis);
        await using var redis = await RedisProbe.ConnectAsync(fixture.Servers);
        Assert.Equal(40, await redis.Database.SortedSetLengthAsync(limiter.Key(check, check.Rules[1])));
    }

    [Fact]
    public async Task With_Redis_paused_a_reservation_serves_only_until_its_sub_window_ends_and_no_check_waits_past_the_timeout()
    {
        using var metrics = new MeasurementRecorder();
        var timeout = TimeSpan.FromMilliseconds(250);
        await using var limiter = await RateLimitTestKit.Limiter(RateLimitTestKit.Options(fixture.Servers, o =>
        {
            o.MaxReservedPermits = 1_000;
            o.RedisTimeout = timeout;
        })).WarmAsync();

        // A 16 s window (sub-windows of 1 s), failing open while Redis is unavailable.
        var check = new RateLimitCheck("u:reserved-pause", "reserved").Add(RateLimitTestKit.Policy("pause", 1_000_000, 16, mode: RateLimitFailureMode.FailOpen));
        var before = metrics.Measurements.Count(m => m.Instrument == "scaling.ratelimit.check.duration");
        for (var i = 0; i < 200; i++)
        {
            await limiter.CheckAsync(check);
            await Task.Delay(1);
        }

        var decisions = new List<(TimeSpan At, TimeSpan Took, RateLimitDecision Decision)>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await fixture.Servers.Redis[0].PauseAsync();
        try
        {
            while (clock.Elapsed < TimeSpan.FromSeconds(2))
            {
                var at = clock.Elapsed;
                var decision = await limiter.CheckAsync(check);
                decisions.Add((at, clock.Elapsed - at, decision));
                await Task.Delay(1);
            }
        }
        finally
        {
            await fixture.Servers.Redis[0].ResumeAsync();
        }

        var stores = metrics.Measurements.Where(m => m.Instrument == "scaling.ratelimit.check.duration").Skip(before + 200).Select(m => (string)m.Tags["store"]!).ToArray();
        Assert.Equal(decisions.Count, stores.Length);
        for (var i = 0; i < decisions.Count; i++)
        {
            var (at, took, decision) = decisions[i];
            Assert.True(took < timeout + TimeSpan.FromMilliseconds(500), $"check {i} waited {took.TotalMilliseconds:0} ms with Redis paused; the timeout is {timeout.TotalMilliseconds:0} ms");
            Assert.True(decision.IsAllowed);
            if (stores[i] == "reserved")
            {
                // A reservation lives until its 1 s sub-window ends, and never longer than 1 s.
                Assert.True(at < PermitReservations.MaxLifetime, $"check {i} was admitted from a reservation {at.TotalMilliseconds:0} ms into the pause");
                Assert.False(decision.IsDegraded);
            }
            else
            {
                Assert.True(decision.IsDegraded, $"check {i} ({stores[i]}) was not degraded with Redis paused");
            }
        }

        Assert.Contains(stores, s => s != "reserved"); // the pause outlived every reservation: the failure mode took over
        await Testing.Eventually.TrueAsync(async () => !(await limiter.CheckAsync(check)).IsDegraded, TimeSpan.FromSeconds(15), "checks back on Redis after the pause");
    }

    private static (int Redis, int Reserved) Stores(MeasurementRecorder metrics)
    {
        var durations = metrics.Measurements.Where(m => m.Instrument == "scaling.ratelimit.check.duration").ToArray();
        return (durations.Count(m => Equals(m.Tags["store"], "redis")), durations.Count(m => Equals(m.Tags["store"], "reserved")));
    }
}
