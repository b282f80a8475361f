using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BookingHost.Tests.Domain;
using Microsoft.AspNetCore.Hosting;
using Scaling.Testing;

namespace BookingHost.Tests.Observability;

/// <summary>
/// With <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> set, BookingHost exports its traces (the packages' spans among them) and
/// its metrics over OTLP. The receiver here is a plain HTTP listener taking OTLP/HTTP protobuf posts; the test looks
/// for the names it expects in the encoded payloads (protobuf keeps strings as UTF-8 bytes).
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class OtlpExportTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task Traces_and_metrics_reach_an_otlp_endpoint_when_one_is_configured()
    {
        using var receiver = new OtlpReceiver();
        await using var app = await BookingApp.StartAsync(Servers, configure: b => b
            .UseSetting("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.Endpoint.ToString())
            .UseSetting("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            .UseSetting("OTEL_BSP_SCHEDULE_DELAY", "200")
            .UseSetting("OTEL_METRIC_EXPORT_INTERVAL", "500")
            .UseSetting("OTEL_SERVICE_NAME", "booking-otlp-test"));
        var kit = await BusinessKit.CreateAsync(app, "shard-1");
        using var client = kit.Client(kit.Customer());
        using (var booked = await kit.BookAsync(client, BusinessKit.Tomorrow(15)))
        {
            Assert.Equal(HttpStatusCode.Created, booked.StatusCode);
        }

        for (var i = 0; i < 2; i++)
        {
            using var services = await client.GetAsync("/api/v1/services"); // a cache miss, then a hit
            Assert.Equal(HttpStatusCode.OK, services.StatusCode);
        }

        var expected = new[] { ("/v1/traces", "Scaling.Tenancy"), ("/v1/traces", "Scaling.Data"), ("/v1/traces", "/api/v1/bookings"), ("/v1/metrics", "scaling.ratelimit.decisions"), ("/v1/metrics", "scaling.cache.hits"), ("/v1/metrics", "http.server.request.duration") };
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!expected.All(e => receiver.Contains(e.Item1, e.Item2)) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var missing = expected.Where(e => !receiver.Contains(e.Item1, e.Item2)).Select(e => $"{e.Item2} in {e.Item1}").ToList();
        Assert.True(missing.Count == 0, $"Not exported within 20 s: {string.Join(", ", missing)}; received: {receiver.Describe()}");
        Assert.True(receiver.Contains("/v1/traces", "booking-otlp-test"), "the service name is not in the trace payloads");
        Assert.True(receiver.Contains("/v1/traces", "Npgsql"), "Npgsql's spans are not exported");
    }

    [Fact]
    public async Task A_malformed_otlp_endpoint_stops_the_host_with_a_clear_message()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var app = await BookingApp.StartAsync(Servers, configure: b => b.UseSetting("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"));
        });
        Assert.Contains("OTEL_EXPORTER_OTLP_ENDPOINT: an absolute http or https address is required", error.ToString(), StringComparison.Ordinal);
    }

    /// <summary>Takes OTLP/HTTP posts on a free loopback port and keeps each body by path.</summary>
    private sealed class OtlpReceiver : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly ConcurrentQueue<(string Path, byte[] Body)> _posts = new();
        private readonly Task _loop;

        public OtlpReceiver()
        {
            using (var probe = new TcpListener(IPAddress.Loopback, 0))
            {
                probe.Start();
                Endpoint = new Uri($"http://127.0.0.1:{((IPEndPoint)probe.LocalEndpoint).Port}/");
            }

            _listener.Prefixes.Add(Endpoint.ToString());
            _listener.Start();
            _loop = Task.Run(async () =>
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

                    using var body = new MemoryStream();
                    await context.Request.InputStream.CopyToAsync(body);
                    _posts.Enqueue((context.Request.Url!.AbsolutePath, body.ToArray()));
                    context.Response.StatusCode = 200;
                    context.Response.ContentType = "application/x-protobuf";
                    context.Response.Close();
                }
            });
        }

        public Uri Endpoint { get; }

        public bool Contains(string path, string text)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            return _posts.Any(p => p.Path == path && p.Body.AsSpan().IndexOf(bytes) >= 0);
        }

        public string Describe() => string.Join(", ", _posts.GroupBy(p => p.Path).Select(g => $"{g.Key}×{g.Count()}"));

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
    }
}
