using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Scaling.Testing;

namespace Scaling.TestServers.Tests;

public sealed class StartupErrorTests
{
    [Fact]
    public async Task Missing_redis_server_ends_with_one_sentence_saying_how_to_install_it()
    {
        var stopwatch = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<TestServerException>(() =>
            Testing.TestServers.StartAsync(new TestServerOptions { RedisServerPath = "/nonexistent/redis-server" }));

        Assert.Contains("'redis-server' was not found", ex.Message, StringComparison.Ordinal);
        Assert.Contains("apt-get install -y redis-server", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), "a missing program must fail at once, never hang");
    }

    [Fact]
    public async Task Missing_postgres_programs_end_with_one_sentence_saying_how_to_install_them()
    {
        var empty = Directory.CreateTempSubdirectory("no-postgres-");
        try
        {
            var ex = await Assert.ThrowsAsync<TestServerException>(() =>
                Testing.TestServers.StartAsync(new TestServerOptions { PostgresBinDirectory = empty.FullName }));

            Assert.Contains("'postgres' was not found", ex.Message, StringComparison.Ordinal);
            Assert.Contains("apt-get install -y postgresql", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            empty.Delete();
        }
    }

    [Fact]
    public async Task A_taken_fixed_port_ends_with_a_clear_error_and_leaves_nothing_behind()
    {
        // Other test assemblies start servers at the same time, so another port of the block may be taken by
        // chance: then the error names that port, and the test tries another block (a few times at most).
        for (var attempt = 1; ; attempt++)
        {
            using var squatter = new TcpListener(IPAddress.Loopback, 0);
            squatter.Start();
            var taken = ((IPEndPoint)squatter.LocalEndpoint).Port;
            var root = Directory.CreateTempSubdirectory("port-clash-");
            try
            {
                // The fourth port of the block (metadata) is the taken one.
                var ex = await Assert.ThrowsAsync<TestServerException>(() =>
                    Testing.TestServers.StartAsync(new TestServerOptions { BasePort = taken - 3, TemporaryRoot = root.FullName }));

                Assert.Empty(root.EnumerateFileSystemInfos());
                if (attempt < 5 && !ex.Message.Contains($"Port {taken} ", StringComparison.Ordinal) && ex.Message.Contains("is already in use", StringComparison.Ordinal))
                {
                    continue;
                }

                Assert.Contains($"Port {taken} on 127.0.0.1 (for metadata) is already in use", ex.Message, StringComparison.Ordinal);
                return;
            }
            finally
            {
                root.Delete(recursive: true);
            }
        }
    }

    [Fact]
    public async Task A_server_whose_port_is_taken_at_bind_time_reports_the_clash_instead_of_hanging()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var taken = ((IPEndPoint)squatter.LocalEndpoint).Port;
        var root = Directory.CreateTempSubdirectory("bind-clash-");
        try
        {
            var binaries = ServerBinaries.Locate();
            var redis = new RedisServer("redis-clash", taken, Path.Combine(root.FullName, "redis"), binaries.RedisServer, TimeSpan.FromSeconds(30));
            var stopwatch = Stopwatch.StartNew();

            var ex = await Assert.ThrowsAsync<PortInUseException>(() => redis.StartAsync(CancellationToken.None));

            Assert.Equal($"redis-clash could not listen on 127.0.0.1:{taken}: the port is already in use by another process.", ex.Message);
            Assert.Equal(ServerState.Stopped, redis.State);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }
}
