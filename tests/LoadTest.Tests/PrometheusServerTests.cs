using System.Net;
using System.Text;
using Scaling.LoadTest;

namespace LoadTest.Tests;

/// <summary>
/// The load test's Prometheus, for real (Debian's package): it scrapes two stand-in instances that publish the series
/// BookingHost's rules read, evaluates those rules, and the report's queries read what it saw, including an alert that
/// fires while a stand-in reports the cache's Redis as degraded and clears once it does not.
/// </summary>
public sealed class PrometheusServerTests
{
    [Fact]
    public async Task It_scrapes_every_instance_and_the_report_reads_rates_and_an_alert_that_fired_and_cleared()
    {
        using var first = new StandIn();
        using var second = new StandIn();
        var output = Directory.CreateTempSubdirectory("prometheus-test-");
        try
        {
            var from = DateTimeOffset.UtcNow;
            await using var prometheus = await PrometheusServer.StartAsync(Deployment.FindRepositoryRoot(), output.FullName, IPAddress.Loopback, Deployment.FreePort(IPAddress.Loopback), [first.Uri, second.Uri], CancellationToken.None);
            first.Degraded = true;

            // The alert's `for` is 15 s, scrapes every 2 s: it fires within about 20 s of the first scrape.
            await WaitForAsync(prometheus, "ALERTS{alertstate=\"firing\",alertname=\"ScalingRedisCircuitOpen\"}", present: true, TimeSpan.FromSeconds(45));
            first.Degraded = false;
            await WaitForAsync(prometheus, "ALERTS{alertstate=\"firing\",alertname=\"ScalingRedisCircuitOpen\"}", present: false, TimeSpan.FromSeconds(20));
            var to = DateTimeOffset.UtcNow;
            await Task.Delay(TimeSpan.FromSeconds(2));

            var figures = await ServerFigures.QueryAsync(prometheus, 2, from, to, DateTimeOffset.UtcNow, CancellationToken.None);
            Assert.Equal(2, figures.TargetsUp);

            // Each stand-in answers 90 % of lookups from L1 and 5 % from L2, and fails 2 % of its requests.
            Assert.NotNull(figures.CacheHitRate);
            Assert.InRange(figures.CacheHitRate.Value, 0.949, 0.951);
            Assert.InRange(figures.CacheL1HitRate!.Value, 0.899, 0.901);
            Assert.InRange(figures.ErrorRate!.Value, 0.0199, 0.0201);
            var route = Assert.Single(figures.Routes);
            Assert.Equal(("GET", "/api/v1/availability"), (route.Method, route.Route));
            Assert.InRange(route.P95Ms!.Value, 4, 8); // every request in the (4 ms, 8 ms] bucket

            var alert = Assert.Single(figures.Alerts, a => a.Name == "ScalingRedisCircuitOpen");
            Assert.Equal("critical", alert.Severity);
            Assert.Equal(first.Uri.Authority, alert.Instance);
            Assert.False(alert.StillFiring);
            Assert.True(figures.FiredAndCleared("ScalingRedisCircuitOpen"));
            Assert.DoesNotContain(figures.Alerts, a => a.Instance == second.Uri.Authority);
        }
        finally
        {
            output.Delete(recursive: true);
        }
    }

    private static async Task WaitForAsync(PrometheusServer prometheus, string query, bool present, TimeSpan timeout)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        while ((await prometheus.QueryAsync(query, DateTimeOffset.UtcNow, CancellationToken.None)).Count > 0 != present)
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, $"'{query}' was {(present ? "still absent" : "still present")} after {timeout.TotalSeconds:0} s");
            await Task.Delay(500);
        }
    }

    /// <summary>An HTTP listener publishing, on each scrape, counters that grow at a fixed pace and a degraded gauge.</summary>
    private sealed class StandIn : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;
        private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;

        public StandIn()
        {
            Uri = new Uri($"http://127.0.0.1:{Deployment.FreePort(IPAddress.Loopback)}/");
            _listener.Prefixes.Add(Uri.ToString());
            _listener.Start();
            _loop = Task.Run(ServeAsync);
        }

        public Uri Uri { get; }

        public volatile bool Degraded;

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(5));
        }

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                // 100 lookups and 50 requests per second since the start.
                var seconds = Math.Round((DateTimeOffset.UtcNow - _started).TotalSeconds, 3);
                var lookups = 100 * seconds;
                var requests = 50 * seconds;
                var labels = "code=\"200\",method=\"GET\",controller=\"\",action=\"\",endpoint=\"/api/v1/availability\"";
                var failed = "code=\"503\",method=\"GET\",controller=\"\",action=\"\",endpoint=\"/api/v1/availability\"";
                var text = new StringBuilder()
                    .Append("# TYPE scaling_cache_hits_total counter\n")
                    .Append(FormattableString.Invariant($"scaling_cache_hits_total{{tier=\"l1\"}} {lookups * 0.90}\n"))
                    .Append(FormattableString.Invariant($"scaling_cache_hits_total{{tier=\"l2\"}} {lookups * 0.05}\n"))
                    .Append("# TYPE scaling_cache_misses_total counter\n")
                    .Append(FormattableString.Invariant($"scaling_cache_misses_total{{tier=\"l1\"}} {lookups * 0.10}\n"))
                    .Append("# TYPE scaling_cache_l2_degraded gauge\n")
                    .Append(FormattableString.Invariant($"scaling_cache_l2_degraded {(Degraded ? 1 : 0)}\n"))
                    .Append("# TYPE http_requests_received_total counter\n")
                    .Append(FormattableString.Invariant($"http_requests_received_total{{{labels}}} {requests * 0.98}\n"))
                    .Append(FormattableString.Invariant($"http_requests_received_total{{{failed}}} {requests * 0.02}\n"))
                    .Append("# TYPE http_request_duration_seconds histogram\n")
                    .Append(FormattableString.Invariant($"http_request_duration_seconds_bucket{{{labels},le=\"0.004\"}} 0\n"))
                    .Append(FormattableString.Invariant($"http_request_duration_seconds_bucket{{{labels},le=\"0.008\"}} {requests}\n"))
                    .Append(FormattableString.Invariant($"http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {requests}\n"))
                    .Append(FormattableString.Invariant($"http_request_duration_seconds_sum{{{labels}}} {requests * 0.006}\n"))
                    .Append(FormattableString.Invariant($"http_request_duration_seconds_count{{{labels}}} {requests}\n"));
                var body = Encoding.UTF8.GetBytes(text.ToString());
                context.Response.ContentType = "text/plain; version=0.0.4";
                try
                {
                    await context.Response.OutputStream.WriteAsync(body);
                    context.Response.Close();
                }
                catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
                {
                    // Prometheus hung up before the answer was written (a scrape timed out on a busy machine, or the
                    // server stopped): that scrape is lost, as it would be from a real instance; serve the next one.
                    context.Response.Abort();
                }
            }
        }
    }
}
