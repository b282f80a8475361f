using System.Diagnostics;
using Npgsql;
using Scaling.Locks;
using Scaling.Locks.Tests;
using Scaling.Testing;
using Xunit.Abstractions;

namespace Scaling.Peers.Tests.Locks;

/// <summary>
/// A lock holder "paused" past its TTL, side by side: the holder's connections to all three masters go through a
/// <see cref="StallingProxy"/> that stops delivering the masters' replies (as when its process is frozen), so its
/// extensions never complete, the TTL runs out and another client (connected directly) acquires the lock. What does the
/// paused holder's library tell it, and can its late write still land?
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class PausedHolderTests(ServersFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(1);
    private readonly TestServers _servers = fixture.Servers;
    private StallingProxy[] _proxies = null!;
    private NpgsqlDataSource _dataSource = null!;
    private FencedDocuments _documents = null!;

    private IEnumerable<string> Direct => _servers.Redis.Select(r => r.EndPoint);

    private IEnumerable<string> Stallable => _proxies.Select(p => p.EndPoint);

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        _proxies = [.. _servers.Redis.Select(r => StallingProxy.Start(r.Port))];
        _dataSource = NpgsqlDataSource.Create(_servers.Shard1Primary.ConnectionString());
        _documents = new FencedDocuments(_dataSource, "peers_fenced_documents");
        await _documents.CreateAsync();
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        foreach (var proxy in _proxies)
        {
            await proxy.DisposeAsync();
        }

        await _dataSource.DisposeAsync();
    }

    [Fact]
    public async Task Ours_signals_LostToken_before_another_client_acquires_and_the_fenced_write_is_refused()
    {
        var tokens = new PostgresFencingTokenSource(_dataSource);
        await tokens.EnsureSchemaAsync();
        await using var paused = LockPeers.Ours(Stallable, tokens);
        await using var other = LockPeers.Ours(Direct, tokens);
        var resource = LockPeers.Resource("paused-ours");
        var a = await paused.AcquireAsync(resource, Ttl, TimeSpan.FromSeconds(5));
        await _documents.WriteAsync(resource, a.FencingToken!.Value, "first by A"); // while A holds it: accepted
        var clock = Stopwatch.StartNew();
        TimeSpan? lostAt = null;
        using var onLost = a.LostToken.Register(() => lostAt = clock.Elapsed);
        try
        {
            Stall();

            await using var b = await other.AcquireAsync(resource, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10));
            var acquiredAt = clock.Elapsed;
            output.WriteLine($"A's LostToken fired at {lostAt?.TotalMilliseconds:0} ms, B acquired at {acquiredAt.TotalMilliseconds:0} ms");

            Assert.True(a.LostToken.IsCancellationRequested, "A was not told that it lost the lock");
            Assert.True(a.IsLost);
            Assert.True(lostAt <= acquiredAt, $"A's LostToken fired at {lostAt} after B acquired at {acquiredAt}");
            Assert.True(b.FencingToken > a.FencingToken);

            // A wakes up and writes as if it still held the lock: refused inside its own transaction.
            var stale = await Assert.ThrowsAsync<StaleFencingTokenException>(() => _documents.WriteAsync(resource, a.FencingToken.Value, "second by A"));
            Assert.Equal(b.FencingToken, stale.LatestToken);
            Assert.Equal(("first by A", a.FencingToken.Value), await _documents.ReadAsync(resource));
        }
        finally
        {
            Resume();
            await a.DisposeAsync();
        }
    }

    [Fact]
    public async Task RedLockNet_reports_IsAcquired_while_another_client_holds_the_lock_until_its_5_s_command_timeout()
    {
        await using var pausedMasters = await Masters.ConnectAsync(Stallable);
        await using var otherMasters = await Masters.ConnectAsync(Direct);
        using var paused = LockPeers.RedLockNet(pausedMasters);
        using var other = LockPeers.RedLockNet(otherMasters);
        var resource = LockPeers.Resource("paused-redlocknet");
        var a = await paused.CreateLockAsync(resource, Ttl);
        Assert.True(a.IsAcquired);
        var clock = Stopwatch.StartNew();
        try
        {
            Stall();

            await using var b = await other.CreateLockAsync(resource, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50));
            var acquiredAt = clock.Elapsed;
            Assert.True(b.IsAcquired, $"B did not acquire: {b.Status}");

            // Both report the lock held: A's extension (a synchronous call on a timer every TTL/2) is blocked waiting
            // for a reply, and nothing changes A's status until StackExchange.Redis's 5 s timeout ends that call.
            output.WriteLine($"B acquired at {acquiredAt.TotalMilliseconds:0} ms; A: IsAcquired {a.IsAcquired}, Status {a.Status}, {a.InstanceSummary}, extended {a.ExtendCount} times");
            Assert.True(a.IsAcquired);
            Assert.Equal(RedLockNet.RedLockStatus.Acquired, a.Status);

            // It does find out, once that call times out: NoQuorum (every master's extension counted as an error).
            await Eventually.TrueAsync(() => Task.FromResult(!a.IsAcquired), TimeSpan.FromSeconds(10), "RedLock.net's status left Acquired");
            output.WriteLine($"A's status became {a.Status} ({a.InstanceSummary}) at {clock.Elapsed.TotalMilliseconds:0} ms");
            Assert.Equal(RedLockNet.RedLockStatus.NoQuorum, a.Status);
        }
        finally
        {
            Resume();
            await a.DisposeAsync();
        }
    }

    [Fact]
    public async Task DistributedLock_signals_HandleLostToken_once_a_ttl_passed_without_renewal()
    {
        await using var pausedMasters = await Masters.ConnectAsync(Stallable);
        await using var otherMasters = await Masters.ConnectAsync(Direct);
        var resource = LockPeers.Resource("paused-distributedlock");
        // Allowed to retry for a while: a single try (no timeout) through freshly connected proxies on a busy CI machine
        // once came back without the lock, before anything was stalled.
        var a = await LockPeers.DistributedLock(pausedMasters, resource, Ttl).TryAcquireAsync(TimeSpan.FromSeconds(5));
        Assert.NotNull(a);
        var clock = Stopwatch.StartNew();
        TimeSpan? lostAt = null;
        using var onLost = a.HandleLostToken.Register(() => lostAt = clock.Elapsed);
        try
        {
            Stall();

            await using var b = await LockPeers.DistributedLock(otherMasters, resource, TimeSpan.FromSeconds(10)).TryAcquireAsync(TimeSpan.FromSeconds(10));
            var acquiredAt = clock.Elapsed;
            Assert.NotNull(b);

            // Its lease monitor, every 0.3 × TTL, declares the handle lost once a TTL has passed since the last renewal.
            await Eventually.TrueAsync(() => Task.FromResult(lostAt is not null), TimeSpan.FromSeconds(5), "HandleLostToken fired");
            output.WriteLine($"A's HandleLostToken fired at {lostAt?.TotalMilliseconds:0} ms, B acquired at {acquiredAt.TotalMilliseconds:0} ms");
            Assert.True(a.HandleLostToken.IsCancellationRequested);
        }
        finally
        {
            Resume();
            await a.DisposeAsync();
        }
    }

    private void Stall()
    {
        foreach (var proxy in _proxies)
        {
            proxy.Stall();
        }
    }

    private void Resume()
    {
        foreach (var proxy in _proxies)
        {
            proxy.Resume();
        }
    }
}
