using Scaling.Testing;
using StackExchange.Redis;
using Microsoft.Extensions.Options;

namespace Scaling.Locks.Tests;

/// <summary>
/// No late commands: a lock write (SET NX, extension) that reaches a master after its round gave up is refused there.
/// Checked on the provider's own connections (fail-fast backlog) and on application multiplexers that keep
/// StackExchange.Redis's default backlog (commands queued while disconnected and sent after the reconnect).
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class LateCommandTests(ServersFixture fixture)
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(20);

    private TestServers Servers => fixture.Servers;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_acquisition_refused_while_two_masters_were_paused_leaves_no_key_once_they_resume(bool applicationMultiplexers)
    {
        await using var apps = await AppMultiplexers.ConnectAsync(Servers, applicationMultiplexers);
        await using var provider = await Provider(apps).WarmAsync();
        await using var probe = await RedisProbe.ConnectAsync(Servers);
        var resource = LockTestKit.Resource("late-paused");
        try
        {
            await Servers.Redis[1].PauseAsync();
            await Servers.Redis[2].PauseAsync();
            var result = await provider.TryAcquireDetailedAsync(resource, Ttl, TimeSpan.Zero);
            Assert.Equal(LockAttemptStatus.NoQuorum, result.Status);
            await Task.Delay(TimeSpan.FromSeconds(1)); // the SETs sit unread in the paused masters' sockets
        }
        finally
        {
            await Servers.Redis[1].ResumeAsync();
            await Servers.Redis[2].ResumeAsync();
        }

        // The paused masters now read the SETs: each is past its round's deadline and refused.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.All(await probe.GetAllAsync(resource), Assert.Null);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_acquisition_refused_while_two_masters_were_down_leaves_no_key_once_they_are_back(bool applicationMultiplexers)
    {
        await using var apps = await AppMultiplexers.ConnectAsync(Servers, applicationMultiplexers);
        await using var provider = await Provider(apps).WarmAsync();
        var resource = LockTestKit.Resource("late-killed");
        try
        {
            await Servers.Redis[1].KillAsync();
            await Servers.Redis[2].KillAsync();
            var result = await provider.TryAcquireDetailedAsync(resource, Ttl, TimeSpan.Zero);
            Assert.Equal(LockAttemptStatus.NoQuorum, result.Status);
        }
        finally
        {
            await Servers.Redis[1].RestartAsync();
            await Servers.Redis[2].RestartAsync();
        }

        // Every multiplexer reconnects (an application's default backlog then sends what it queued): nothing is set.
        await using var probe = await RedisProbe.ConnectAsync(Servers);
        await Eventually.TrueAsync(() => Task.FromResult(apps.AllConnected), TimeSpan.FromSeconds(15), "the multiplexers reconnected");
        await provider.WarmAsync();
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.All(await probe.GetAllAsync(resource), Assert.Null);
    }

    [Fact]
    public async Task An_extension_refused_while_two_masters_were_paused_does_not_prolong_the_key_once_they_resume()
    {
        await using var provider = await LockTestKit.Provider(Servers, o => o.AutoExtend = false).WarmAsync();
        await using var probe = await RedisProbe.ConnectAsync(Servers);
        var resource = LockTestKit.Resource("late-extend");
        await using var handle = await provider.AcquireAsync(resource, Ttl, TimeSpan.FromSeconds(5));
        var acquired = DateTime.UtcNow;
        await Task.Delay(TimeSpan.FromSeconds(2));
        try
        {
            await Servers.Redis[1].PauseAsync();
            await Servers.Redis[2].PauseAsync();
            Assert.False(await handle.ExtendAsync());
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
        finally
        {
            await Servers.Redis[1].ResumeAsync();
            await Servers.Redis[2].ResumeAsync();
        }

        await Task.Delay(TimeSpan.FromSeconds(1));
        var expiresNoLaterThan = Ttl - (DateTime.UtcNow - acquired) + TimeSpan.FromMilliseconds(200);
        for (var master = 1; master <= 2; master++)
        {
            var left = await probe.Master(master).KeyTimeToLiveAsync("lock:" + resource);
            Assert.NotNull(left);
            Assert.True(left <= expiresNoLaterThan, $"master {master}: the key lives {left} more, beyond its original {expiresNoLaterThan}: the refused extension ran late");
        }
    }

    private static RedlockProvider Provider(AppMultiplexers apps) =>
        apps.Connections is { } connections
            ? new RedlockProvider(Options.Create(ConfigureMasters(new ScalingLocksOptions(), connections)), logger: LockTestKit.Log)
            : LockTestKit.Provider(apps.Servers);

    private static ScalingLocksOptions ConfigureMasters(ScalingLocksOptions options, IEnumerable<IConnectionMultiplexer> connections)
    {
        foreach (var connection in connections)
        {
            options.AddMaster(connection);
        }

        return options;
    }

    /// <summary>An application's own multiplexers, one per master, with StackExchange.Redis's default backlog policy.</summary>
    private sealed class AppMultiplexers : IAsyncDisposable
    {
        private AppMultiplexers(TestServers servers, ConnectionMultiplexer[]? connections)
        {
            Servers = servers;
            Connections = connections;
        }

        public TestServers Servers { get; }

        public ConnectionMultiplexer[]? Connections { get; }

        public bool AllConnected => Connections?.All(c => c.IsConnected) ?? true;

        public static async Task<AppMultiplexers> ConnectAsync(TestServers servers, bool create) =>
            new(servers, create
                ? await Task.WhenAll(servers.Redis.Select(r => ConnectionMultiplexer.ConnectAsync(r.EndPoint + ",abortConnect=false,connectTimeout=1000,name=app")))
                : null);

        public async ValueTask DisposeAsync()
        {
            foreach (var connection in Connections ?? [])
            {
                await connection.DisposeAsync();
            }
        }
    }
}
