using System.Net;
using System.Text.Json;
using Scaling.Testing;

namespace BookingHost.Tests;

[Collection(ServersCollection.Name)]
public sealed class HealthTests(ServersFixture fixture)
{
    private readonly TestServers _servers = fixture.Servers;

    [Fact]
    public async Task Live_answers_200()
    {
        await using var factory = await BookingApp.StartAsync(_servers);
        using var client = factory.CreateClient();

        using var response = await client.GetAsync(new Uri("/health/live", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Ready_checks_every_real_server_and_turns_503_when_a_redis_master_is_down()
    {
        await using var factory = await BookingApp.StartAsync(_servers);
        using var client = factory.CreateClient();

        using (var healthy = await client.GetAsync(new Uri("/health/ready", UriKind.Relative)))
        {
            var report = JsonDocument.Parse(await healthy.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(HttpStatusCode.OK, healthy.StatusCode);
            Assert.Equal(9, report.GetProperty("checks").EnumerateObject().Count());
            Assert.Equal("Healthy", report.GetProperty("checks").GetProperty("setup").GetProperty("status").GetString());
            Assert.Equal("Healthy", report.GetProperty("checks").GetProperty("shard-map").GetProperty("status").GetString());
            Assert.Equal("replica", report.GetProperty("checks").GetProperty("postgres-Shard1Replica").GetProperty("description").GetString());
        }

        var redis = _servers.Redis[2];
        await redis.KillAsync();
        try
        {
            using var degraded = await client.GetAsync(new Uri("/health/ready", UriKind.Relative));
            var report = JsonDocument.Parse(await degraded.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(HttpStatusCode.ServiceUnavailable, degraded.StatusCode);
            Assert.Equal("Unhealthy", report.GetProperty("checks").GetProperty("redis-" + redis.EndPoint).GetProperty("status").GetString());
        }
        finally
        {
            await redis.RestartAsync();
        }
    }
}
