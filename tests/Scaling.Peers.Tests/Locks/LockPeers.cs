using Medallion.Threading.Redis;
using Microsoft.Extensions.Options;
using RedLockNet.SERedis;
using RedLockNet.SERedis.Configuration;
using Scaling.Locks;
using StackExchange.Redis;

namespace Scaling.Peers.Tests.Locks;

/// <summary>
/// Ours and the two peers, each set up over the same independent masters as its own documentation shows: our
/// <see cref="RedlockProvider"/> on <c>host:port</c> endpoints (its own connections, automatic extension on: the
/// defaults), RedLock.net's <c>RedLockFactory.Create</c> over one existing multiplexer per master (default
/// StackExchange.Redis settings, as in its README), and DistributedLock.Redis's <see cref="RedisDistributedLock"/> over
/// those multiplexers' <see cref="IDatabase"/> (its RedLock mode).
/// </summary>
internal static class LockPeers
{
    /// <summary>Ours on <paramref name="endpoints"/> (<c>host:port</c> each), with the defaults and an optional fencing-token source.</summary>
    public static RedlockProvider Ours(IEnumerable<string> endpoints, IFencingTokenSource? fencing = null) =>
        new(Options.Create(new ScalingLocksOptions().AddEndpoints(string.Join(',', endpoints))), fencing);

    /// <summary>RedLock.net over <paramref name="masters"/> (not owned by the factory).</summary>
    public static RedLockFactory RedLockNet(Masters masters) =>
        RedLockFactory.Create([.. masters.Connections.Select(c => new RedLockMultiplexer(c))]);

    /// <summary>DistributedLock.Redis's lock on <paramref name="name"/> over <paramref name="masters"/>, expiring after <paramref name="expiry"/>.</summary>
    public static RedisDistributedLock DistributedLock(Masters masters, string name, TimeSpan expiry) =>
        new(name, masters.Connections.Select(c => c.GetDatabase()), o => o.Expiry(expiry));

    /// <summary>A resource name unique to one test run.</summary>
    public static string Resource(string test) => "peers:" + test + ":" + Guid.NewGuid().ToString("N")[..8];
}

/// <summary>An application's connections, one <see cref="ConnectionMultiplexer"/> per master, with default settings.</summary>
internal sealed class Masters : IAsyncDisposable
{
    private Masters(ConnectionMultiplexer[] connections) => Connections = connections;

    /// <summary>The connections, in the order of the endpoints.</summary>
    public IReadOnlyList<ConnectionMultiplexer> Connections { get; }

    /// <summary>Connects to every endpoint (<c>host:port</c>), as the peers' READMEs do.</summary>
    public static async Task<Masters> ConnectAsync(IEnumerable<string> endpoints) =>
        new(await Task.WhenAll(endpoints.Select(e => ConnectionMultiplexer.ConnectAsync(e))));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var connection in Connections)
        {
            await connection.DisposeAsync();
        }
    }
}
