using System.Net.Sockets;
using Scaling.Testing;

namespace Scaling.TestServers.Tests;

[Collection(ServersCollection.Name)]
public sealed class RedisFaultTests(ServersFixture fixture)
{
    private static readonly TimeSpan PingTimeout = TimeSpan.FromMilliseconds(500);
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task Three_redis_masters_answer_independently()
    {
        Assert.Equal(3, _servers.Redis.Count);
        foreach (var redis in _servers.Redis)
        {
            Assert.Equal("PONG", await redis.PingAsync(PingTimeout));
        }

        Assert.Equal(3, _servers.Redis.Select(r => r.EndPoint).Distinct().Count());
    }

    [Fact]
    public async Task Killed_redis_refuses_ping_and_answers_again_after_restart()
    {
        var redis = _servers.Redis[1];
        var port = redis.Port;
        var pid = redis.ProcessId;
        try
        {
            await redis.KillAsync();
            Assert.Equal(ServerState.Stopped, redis.State);
            var refused = await Assert.ThrowsAsync<SocketException>(() => redis.PingAsync(PingTimeout));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
            Assert.Equal("PONG", await _servers.Redis[0].PingAsync(PingTimeout)); // the others are unaffected
        }
        finally
        {
            await redis.RestartAsync();
        }

        Assert.Equal(ServerState.Running, redis.State);
        Assert.Equal(port, redis.Port);
        Assert.NotEqual(pid, redis.ProcessId);
        Assert.Equal("PONG", await redis.PingAsync(PingTimeout));
    }

    [Fact]
    public async Task Paused_redis_times_out_and_answers_after_resume()
    {
        var redis = _servers.Redis[2];
        try
        {
            await redis.PauseAsync();
            Assert.Equal(ServerState.Paused, redis.State);
            await Assert.ThrowsAsync<TimeoutException>(() => redis.PingAsync(PingTimeout));
        }
        finally
        {
            await redis.ResumeAsync();
        }

        Assert.Equal("PONG", await redis.PingAsync(PingTimeout));
    }

    [Fact]
    public async Task Gracefully_stopped_redis_refuses_ping_and_restarts()
    {
        var redis = _servers.Redis[2];
        try
        {
            await redis.StopAsync();
            Assert.Null(redis.ProcessId);
            await Assert.ThrowsAsync<SocketException>(() => redis.PingAsync(PingTimeout));
        }
        finally
        {
            await redis.RestartAsync();
        }

        Assert.Equal("PONG", await redis.PingAsync(PingTimeout));
    }

    [Fact]
    public async Task Pausing_a_stopped_server_is_refused_with_a_clear_message()
    {
        var redis = _servers.Redis[1];
        await redis.StopAsync();
        try
        {
            var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => redis.PauseAsync());
            Assert.Contains("redis-2", ex.Message, StringComparison.Ordinal);
            Assert.Contains("stopped", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            await redis.RestartAsync();
        }
    }
}
