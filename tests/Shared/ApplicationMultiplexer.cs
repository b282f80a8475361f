using StackExchange.Redis;

namespace Scaling.Testing;

/// <summary>
/// An application's own StackExchange.Redis multiplexer, as a user would hand it to a package (default settings, a
/// client name of its own), with the checks that the package left it as it was: still connected and answering, its
/// configuration unchanged, and no connection of the package's own on the server.
/// </summary>
public sealed class ApplicationMultiplexer : IAsyncDisposable
{
    private readonly string _configuration;

    private ApplicationMultiplexer(ConnectionMultiplexer connection, ConnectionMultiplexer admin, string name)
    {
        Connection = connection;
        Admin = admin;
        Name = name;
        _configuration = connection.Configuration;
    }

    /// <summary>The application's multiplexer.</summary>
    public ConnectionMultiplexer Connection { get; }

    /// <summary>A separate admin connection to the same server, to look at its clients and channels.</summary>
    public ConnectionMultiplexer Admin { get; }

    /// <summary>The multiplexer's client name (unique per instance).</summary>
    public string Name { get; }

    /// <summary>The factory a package's options take.</summary>
    public Func<Task<IConnectionMultiplexer>> Factory => () => Task.FromResult<IConnectionMultiplexer>(Connection);

    public static async Task<ApplicationMultiplexer> ConnectAsync(string endPoint)
    {
        var name = "app-" + Guid.NewGuid().ToString("N")[..8];
        var connection = await ConnectionMultiplexer.ConnectAsync(endPoint + ",name=" + name);
        var admin = await ConnectionMultiplexer.ConnectAsync(endPoint + ",allowAdmin=true");
        return new ApplicationMultiplexer(connection, admin, name);
    }

    /// <summary>The names of the server's clients other than this multiplexer's and the admin connection's.</summary>
    public async Task<string[]> OtherClientNamesAsync()
    {
        var server = Admin.GetServer(Admin.GetEndPoints()[0]);
        return [.. (await server.ClientListAsync()).Where(c => c.Name != Name && !string.IsNullOrEmpty(c.Name)).Select(c => c.Name!)];
    }

    /// <summary>How many clients are subscribed to <paramref name="channel"/>.</summary>
    public async Task<long> SubscribersAsync(string channel)
    {
        var reply = (RedisResult[])(await Admin.GetDatabase().ExecuteAsync("PUBSUB", "NUMSUB", channel))!;
        return (long)reply[1];
    }

    /// <summary>Throws unless the multiplexer is still connected, answers, keeps its configuration and still delivers its own subscriptions.</summary>
    public async Task AssertUntouchedAsync()
    {
        Xunit.Assert.True(Connection.IsConnected, "the application's multiplexer was closed");
        await Connection.GetDatabase().PingAsync();
        Xunit.Assert.Equal(_configuration, Connection.Configuration);
        var channel = RedisChannel.Literal("app-own:" + Name);
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await Connection.GetSubscriber().SubscribeAsync(channel, (_, message) => received.TrySetResult(message!));
        await Admin.GetSubscriber().PublishAsync(channel, "still mine");
        Xunit.Assert.Equal("still mine", await received.Task.WaitAsync(TimeSpan.FromSeconds(5)));
        await Connection.GetSubscriber().UnsubscribeAsync(channel);
    }

    public async ValueTask DisposeAsync()
    {
        await Connection.DisposeAsync();
        await Admin.DisposeAsync();
    }
}
