using Scaling.Testing;
using Microsoft.Extensions.Options;

namespace Scaling.Locks.Tests;

/// <summary>Redlock on the application's own multiplexers (one per master): no connection of its own, and the multiplexers left as they were.</summary>
[Collection(ServersCollection.Name)]
public sealed class SharedMultiplexerTests(ServersFixture fixture)
{
    [Fact]
    public async Task The_provider_locks_on_the_application_multiplexers_and_leaves_them_open_and_unchanged()
    {
        var apps = await Task.WhenAll(fixture.Servers.Redis.Select(r => ApplicationMultiplexer.ConnectAsync(r.EndPoint)));
        try
        {
            var options = new ScalingLocksOptions();
            foreach (var app in apps)
            {
                options.AddMaster(app.Connection);
            }

            var provider = new RedlockProvider(Options.Create(options), logger: LockTestKit.Log);

            // Every master connected first: a lock needs only a quorum, and on a loaded machine one master could still
            // be connecting (named "master 1" until it is) when the assertions below name each of them.
            await Eventually.TrueAsync(
                async () =>
                {
                    var probe = await provider.TryAcquireDetailedAsync(LockTestKit.Resource("warm"), TimeSpan.FromSeconds(5), TimeSpan.Zero);
                    if (probe.Handle is { } held)
                    {
                        await held.DisposeAsync();
                    }

                    return probe.Nodes.All(n => !n.EndPoint.StartsWith("master ", StringComparison.Ordinal));
                },
                TimeSpan.FromSeconds(15),
                "every master to be connected (named by its endpoint)");
            var resource = LockTestKit.Resource("shared");
            var handle = await provider.AcquireAsync(resource, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5));
            var result = await provider.TryAcquireDetailedAsync(resource, TimeSpan.FromSeconds(10), TimeSpan.Zero);
            Assert.Equal(LockAttemptStatus.Conflicted, result.Status);
            Assert.Equal(fixture.Servers.Redis.Select(r => r.EndPoint), result.Nodes.Select(n => n.EndPoint)); // each master named by its endpoint
            await handle.DisposeAsync();
            foreach (var app in apps)
            {
                Assert.DoesNotContain(await app.OtherClientNamesAsync(), n => n.StartsWith("scaling-", StringComparison.Ordinal));
            }

            await provider.DisposeAsync();
            foreach (var app in apps)
            {
                await app.AssertUntouchedAsync();
            }
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.DisposeAsync();
            }
        }
    }

    [Fact]
    public void Masters_given_both_ways_or_in_an_even_number_are_refused_naming_the_option()
    {
        var options = new ScalingLocksOptions().AddEndpoints("127.0.0.1:1");
        options.ConnectionMultiplexerFactories.Add(() => throw new InvalidOperationException());
        var failure = Assert.Throws<OptionsValidationException>(() => new RedlockProvider(Options.Create(options)));
        Assert.Contains("ScalingLocksOptions.Endpoints and ScalingLocksOptions.ConnectionMultiplexerFactories are both set", failure.Message, StringComparison.Ordinal);

        var even = new ScalingLocksOptions();
        even.ConnectionMultiplexerFactories.Add(() => throw new InvalidOperationException());
        even.ConnectionMultiplexerFactories.Add(() => throw new InvalidOperationException());
        Assert.Contains("ScalingLocksOptions.ConnectionMultiplexerFactories holds 2 masters", Assert.Throws<OptionsValidationException>(() => new RedlockProvider(Options.Create(even))).Message, StringComparison.Ordinal);
    }
}
