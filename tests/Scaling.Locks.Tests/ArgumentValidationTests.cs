using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Scaling.Locks.Tests;

/// <summary>Bad input fails with clear argument errors before anything is sent to Redis.</summary>
public sealed class ArgumentValidationTests : IAsyncLifetime
{
    // Nothing listens on port 1: these tests must fail on their arguments, never reach a server.
    private readonly RedlockProvider _provider = new(Options.Create(new ScalingLocksOptions().AddEndpoints("127.0.0.1:1")));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    [Theory]
    [InlineData("127.0.0.1:6379,127.0.0.1:6380", "holds 2 masters: use an odd number")]
    [InlineData("a:1,b:2,c:3,d:4", "holds 4 masters: use an odd number")]
    [InlineData("", "ScalingLocksOptions.Endpoints is empty")]
    [InlineData("no-port", "'no-port', which is not host:port")]
    [InlineData("host:0", "'host:0', which is not host:port")]
    [InlineData("host:70000", "'host:70000', which is not host:port")]
    [InlineData("a:1,a:1,b:2", "'a:1' twice")]
    public void Options_with_bad_endpoints_are_rejected_naming_the_option(string endpoints, string expected)
    {
        var options = new ScalingLocksOptions().AddEndpoints(endpoints);

        var exception = Assert.Throws<OptionsValidationException>(() => new RedlockProvider(Options.Create(options)));

        Assert.Equal(typeof(ScalingLocksOptions), exception.OptionsType);
        Assert.Contains("ScalingLocksOptions.Endpoints", exception.Message, StringComparison.Ordinal);
        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Other_bad_options_are_each_named()
    {
        var options = new ScalingLocksOptions { NodeTimeout = TimeSpan.Zero, MinRetryDelay = TimeSpan.FromSeconds(1), MaxRetryDelay = TimeSpan.FromMilliseconds(5), KeyPrefix = new string('p', 65) }
            .AddEndpoints("127.0.0.1:1");

        var failures = new ScalingLocksOptionsValidator().Validate(null, options);

        Assert.True(failures.Failed);
        var message = failures.FailureMessage;
        Assert.Contains("ScalingLocksOptions.NodeTimeout must be from 1 ms", message, StringComparison.Ordinal);
        Assert.Contains("ScalingLocksOptions.MaxRetryDelay must be from ScalingLocksOptions.MinRetryDelay", message, StringComparison.Ordinal);
        Assert.Contains("ScalingLocksOptions.KeyPrefix must be a string of at most 64 characters", message, StringComparison.Ordinal);
        Assert.True(new ScalingLocksOptionsValidator().Validate(null, new ScalingLocksOptions().AddEndpoints("h:1,h:2,h:3")).Succeeded);
    }

    [Fact]
    public void AddEndpoints_reads_a_comma_separated_connection_string()
    {
        var options = new ScalingLocksOptions().AddEndpoints(" 10.0.0.1:6379, 10.0.0.2:6380 ,,10.0.0.3:6381 ").AddEndpoints(null);

        Assert.Equal(["10.0.0.1:6379", "10.0.0.2:6380", "10.0.0.3:6381"], options.Endpoints);
    }

    [Fact]
    public async Task Options_registered_in_DI_are_validated_on_start()
    {
        var services = new ServiceCollection();
        services.AddScalingLocks(o => o.AddEndpoints("127.0.0.1:6379,127.0.0.1:6380"));
        await using var provider = services.BuildServiceProvider();

        var onStart = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("ScalingLocksOptions.Endpoints holds 2 masters", onStart.Message, StringComparison.Ordinal);
        Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IDistributedLockProvider>());
    }

    [Fact]
    public async Task DI_resolves_one_provider_for_the_interface_and_the_class()
    {
        var services = new ServiceCollection();
        services.AddScalingLocks(o => o.AddEndpoints("127.0.0.1:1"));
        await using var provider = services.BuildServiceProvider();

        provider.GetRequiredService<IStartupValidator>().Validate();
        Assert.Same(provider.GetRequiredService<RedlockProvider>(), provider.GetRequiredService<IDistributedLockProvider>());
    }

    [Fact]
    public async Task Empty_null_and_oversized_resource_names_are_rejected()
    {
        var ttl = TimeSpan.FromSeconds(1);

        var empty = await Assert.ThrowsAsync<ArgumentException>(() => _provider.TryAcquireAsync("", ttl, TimeSpan.Zero));
        Assert.Equal("resource", empty.ParamName);
        Assert.Contains("cannot be empty", empty.Message, StringComparison.Ordinal);

        await Assert.ThrowsAsync<ArgumentNullException>(() => _provider.TryAcquireAsync(null!, ttl, TimeSpan.Zero));

        var longName = new string('x', 257);
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(() => _provider.AcquireAsync(longName, ttl, TimeSpan.Zero));
        Assert.Equal("resource", tooLong.ParamName);
        Assert.Contains("at most 256 characters", tooLong.Message, StringComparison.Ordinal);
        Assert.Contains("(first 64 of 257 characters)", tooLong.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(-10_000)]
    public async Task Non_positive_ttls_are_rejected(int ttlMilliseconds)
    {
        var ttl = TimeSpan.FromMilliseconds(ttlMilliseconds);

        var exception = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _provider.TryAcquireDetailedAsync("r", ttl, TimeSpan.Zero));

        Assert.Equal("ttl", exception.ParamName);
        Assert.Contains("time to live must be from 1 ms", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_negative_wait_is_rejected_but_infinite_is_accepted_as_an_argument()
    {
        var exception = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => _provider.TryAcquireAsync("r", TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(-5)));
        Assert.Equal("wait", exception.ParamName);

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => _provider.TryAcquireAsync("r", TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan, cancelled.Token));
    }
}
