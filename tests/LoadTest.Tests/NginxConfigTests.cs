using System.Net;
using Scaling.LoadTest;

namespace LoadTest.Tests;

public sealed class NginxConfigTests
{
    private static readonly Uri[] Upstreams = [new("http://127.0.0.1:5001"), new("http://127.0.0.1:5002")];

    [Fact]
    public void A_small_run_gets_one_worker_and_both_instances()
    {
        var config = NginxConfig.Create("/tmp/run/nginx", IPAddress.Loopback, 8080, Upstreams, 60, 20_000);
        Assert.Contains("worker_processes 1;", config, StringComparison.Ordinal);
        Assert.Contains("listen 127.0.0.1:8080 backlog=4096;", config, StringComparison.Ordinal);
        Assert.Contains("server 127.0.0.1:5001 max_fails=0;", config, StringComparison.Ordinal);
        Assert.Contains("server 127.0.0.1:5002 max_fails=0;", config, StringComparison.Ordinal);
        Assert.Contains("proxy_buffering off;", config, StringComparison.Ordinal);
    }

    [Fact]
    public void Connections_beyond_one_process_file_limit_get_more_workers_sharing_the_port()
    {
        // 10,000 streams + 1,000 clients need ~23,000 descriptors: more than one process may hold under a 20,000 limit.
        var config = NginxConfig.Create("/tmp/run/nginx", IPAddress.IPv6Loopback, 8080, Upstreams, 11_000, 20_000);
        Assert.Contains("worker_processes 2;", config, StringComparison.Ordinal);
        Assert.Contains("listen [::1]:8080 reuseport backlog=4096;", config, StringComparison.Ordinal);
        Assert.Contains("worker_rlimit_nofile 20000;", config, StringComparison.Ordinal);
        Assert.InRange(NginxConfig.Capacity(20_000), 11_000, 100_000);
        Assert.True(NginxConfig.Capacity(1_024) < 11_000);
    }
}
