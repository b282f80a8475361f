using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using Microsoft.Extensions.Options;

namespace Scaling.Locks.Tests;

/// <summary>Providers over the test masters, and a direct view of each master's keys.</summary>
internal static class LockTestKit
{
    public static RedlockProvider Provider(Testing.TestServers servers, Action<ScalingLocksOptions>? configure = null, IFencingTokenSource? fencing = null)
    {
        var options = new ScalingLocksOptions();
        options.AddEndpoints(string.Join(',', servers.Redis.Select(r => r.EndPoint)));
        configure?.Invoke(options);
        return new RedlockProvider(Options.Create(options), fencing, Log);
    }

    /// <summary>Warnings and errors of every provider the tests create (shown when a test fails).</summary>
    public static RecordingLogger Log { get; } = new();

    /// <summary>Waits until the provider's connections are up (one acquisition of a throw-away resource).</summary>
    public static async Task<RedlockProvider> WarmAsync(this RedlockProvider provider)
    {
        var warm = await provider.AcquireAsync("warm-up:" + Guid.NewGuid().ToString("N"), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10));
        await warm.DisposeAsync();
        return provider;
    }

    public static string Resource(string test) => test + ":" + Guid.NewGuid().ToString("N")[..8];
}

/// <summary>One plain connection per master, to look at (and tamper with) the lock keys directly.</summary>
internal sealed class RedisProbe : IAsyncDisposable
{
    private readonly ConnectionMultiplexer[] _connections;

    private RedisProbe(ConnectionMultiplexer[] connections) => _connections = connections;

    public static async Task<RedisProbe> ConnectAsync(Testing.TestServers servers) =>
        new(await Task.WhenAll(servers.Redis.Select(r => ConnectionMultiplexer.ConnectAsync(r.EndPoint + ",abortConnect=false,connectTimeout=2000,syncTimeout=2000"))));

    public IDatabase Master(int index) => _connections[index].GetDatabase();

    public async Task<string?[]> GetAllAsync(string resource) =>
        (await Task.WhenAll(_connections.Select(c => c.GetDatabase().StringGetAsync("lock:" + resource)))).Select(v => (string?)v).ToArray();

    public async ValueTask DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            await connection.CloseAsync(false);
            connection.Dispose();
        }
    }
}

/// <summary>Keeps the provider's warnings and errors, with a timestamp.</summary>
internal sealed class RecordingLogger : ILogger<RedlockProvider>
{
    private readonly ConcurrentQueue<string> _entries = new();

    public string Recent => string.Join(Environment.NewLine, _entries.TakeLast(20));

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            _entries.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel}: {formatter(state, exception)}");
        }
    }
}
