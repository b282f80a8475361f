using System.Net;
using Scaling.LoadTest;

namespace LoadTest.Tests;

public sealed class OptionsTests
{
    [Fact]
    public void Defaults_match_the_goals_run()
    {
        var options = LoadTestOptions.Parse([]);
        Assert.Equal(1000, options.Clients);
        Assert.Equal(TimeSpan.FromSeconds(60), options.Duration);
        Assert.Equal(2000, options.EventStreams);
        Assert.Equal(2, options.Instances);
        Assert.False(options.OpenLoop);
        Assert.Equal(IPAddress.Loopback, options.Address);
        Assert.False(options.FailOnErrors);
        Assert.False(options.RedisCluster);
        Assert.True(LoadTestOptions.Parse(["--redis-cluster", "--fault"]).RedisCluster);
        Assert.False(options.PinHosts);
        Assert.True(LoadTestOptions.Parse(["--pin-hosts", "--instances", "1"]).PinHosts);
    }

    [Fact]
    public void Smoke_is_small_and_strict_and_explicit_options_override_it()
    {
        var smoke = LoadTestOptions.Parse(["--smoke"]);
        Assert.True(smoke.FailOnErrors);
        Assert.Equal(20, smoke.Clients);
        Assert.Equal(TimeSpan.FromSeconds(5), smoke.Duration);

        var longer = LoadTestOptions.Parse(["--duration", "30s", "--smoke"]);
        Assert.Equal(TimeSpan.FromSeconds(30), longer.Duration);
        Assert.Equal(20, longer.Clients);
    }

    [Fact]
    public void Open_loop_mix_and_addresses_parse()
    {
        var options = LoadTestOptions.Parse(["--rate", "1500", "--clients", "2000", "--mix", "availability=3,book=1", "--address", "127.0.0.2", "--warmup", "500ms"]);
        Assert.True(options.OpenLoop);
        Assert.Equal(1500, options.Rate);
        Assert.Equal(3, options.Mix[Operation.Availability]);
        Assert.Equal(1, options.Mix[Operation.Book]);
        Assert.Equal(0, options.Mix[Operation.Login]);
        Assert.Equal(IPAddress.Parse("127.0.0.2"), options.Address);
        Assert.Equal(TimeSpan.FromMilliseconds(500), options.Warmup);
        Assert.Equal(IPAddress.IPv6Loopback, LoadTestOptions.Parse(["--address", "::1"]).Address);
    }

    [Theory]
    [InlineData("--address 10.0.0.5", "must be a loopback address")]
    [InlineData("--address 192.168.1.20", "must be a loopback address")]
    [InlineData("--address example.com", "Host names are not accepted")]
    [InlineData("--address localhost", "Host names are not accepted")]
    [InlineData("--clients 0", "'--clients' must be a whole number from 1 to 100000; got '0'")]
    [InlineData("--clients -5", "'--clients' must be a whole number from 1 to 100000; got '-5'")]
    [InlineData("--clients many", "'--clients' must be a whole number")]
    [InlineData("--duration 10", "'10' is not a duration")]
    [InlineData("--duration 0s", "'--duration' must be from 1s")]
    [InlineData("--duration 2d", "is not a duration")]
    [InlineData("--rate -1", "'--rate' must be a number from 0 to 1000000; got '-1'")]
    [InlineData("--hot 1.5", "'--hot' must be a number from 0 to 1")]
    [InlineData("--instances 9", "'--instances' must be a whole number from 1 to 4")]
    [InlineData("--mix availability", "'availability' is not operation=weight")]
    [InlineData("--mix teleport=5", "'teleport=5' is not operation=weight")]
    [InlineData("--mix book=x", "the weight of 'book'")]
    [InlineData("--mix book=0", "at least one operation needs a weight above 0")]
    [InlineData("--fault --duration 5s", "needs --duration of at least 10s")]
    [InlineData("--fault-redis 2", "only applies to a fault run")]
    [InlineData("--fault-kind freeze --duration 600s", "'--fault-kind' is 'kill' or 'pause', not 'freeze'")]
    [InlineData("--fault-kind pause --pause-for 20s --duration 60s", "needs --duration of at least 245s")]
    [InlineData("--pause-for 20s", "only applies to a pause run")]
    [InlineData("--fault --fault-redis 4", "'--fault-redis' must be a whole number from 1 to 3")]
    [InlineData("--redis-cluster --fault --fault-redis 2", "with --redis-cluster the fault run kills a cluster master")]
    [InlineData("--redis-cluster --fault-kind pause", "not supported with --redis-cluster yet")]
    [InlineData("--rate 100 --think 1s", "'--think' is for closed loop")]
    [InlineData("--clients 5 --clients 6", "'--clients' is given twice")]
    [InlineData("--turbo", "Unknown option '--turbo'")]
    [InlineData("clients=5", "Unexpected argument 'clients=5'")]
    [InlineData("--duration", "'--duration' needs a value")]
    public void Bad_arguments_are_refused_with_a_clear_message(string commandLine, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => LoadTestOptions.Parse(commandLine.Split(' ')));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("250ms", 0.25)]
    [InlineData("30s", 30)]
    [InlineData("1.5m", 90)]
    [InlineData("1h", 3600)]
    public void Durations_take_a_unit(string text, double seconds)
        => Assert.Equal(TimeSpan.FromSeconds(seconds), LoadTestOptions.ParseTime(text));

    [Fact]
    public void A_pause_run_is_a_fault_run_that_pauses_each_server_in_turn()
    {
        var options = LoadTestOptions.Parse(["--fault-kind", "pause", "--pause-for", "20s", "--duration", "245s"]);
        Assert.True(options.Fault);
        Assert.Equal(FaultKind.Pause, options.FaultKind);
        Assert.Equal(TimeSpan.FromSeconds(20), options.PauseFor);
        Assert.Equal(TimeSpan.FromSeconds(245), FaultPlan.PauseRunDuration(options.PauseFor, options.PauseOnly.Count)); // 5 s + 8 × (20 s + 10 s)
        Assert.Equal(["replica", "primary1", "primary2", "metadata", "redis1", "redis2", "redis3", "nginx"], options.PauseOnly);
        Assert.Equal(FaultKind.Kill, LoadTestOptions.Parse(["--fault", "--duration", "20s"]).FaultKind);

        // Without --duration, a pause run measures every pause and its recovery: 5 s + 8 × (60 s + 30 s).
        Assert.Equal(TimeSpan.FromSeconds(725), LoadTestOptions.Parse(["--fault-kind", "pause"]).Duration);
    }

    [Fact]
    public void A_pause_run_can_pause_only_the_servers_it_names_in_the_runs_order()
    {
        var options = LoadTestOptions.Parse(["--fault-kind", "pause", "--pause-only", "nginx, redis3", "--pause-for", "30s"]);
        Assert.Equal(["redis3", "nginx"], options.PauseOnly);
        Assert.Equal(TimeSpan.FromSeconds(95), options.Duration); // 5 s + 2 × (30 s + 15 s)

        var unknown = Assert.Throws<ArgumentException>(() => LoadTestOptions.Parse(["--fault-kind", "pause", "--pause-only", "redis4"]));
        Assert.Contains("'redis4' is not one of them", unknown.Message, StringComparison.Ordinal);
        var notPause = Assert.Throws<ArgumentException>(() => LoadTestOptions.Parse(["--fault", "--pause-only", "nginx"]));
        Assert.Contains("only applies to a pause run", notPause.Message, StringComparison.Ordinal);
    }
}
