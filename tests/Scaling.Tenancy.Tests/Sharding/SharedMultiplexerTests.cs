using Scaling.Testing;

namespace Scaling.Tenancy.Tests.Sharding;

/// <summary>The shard map's push on the application's own multiplexer: no connection of its own, and the multiplexer left as it was.</summary>
[Collection(ServersCollection.Name)]
public sealed class SharedMultiplexerTests(ServersFixture fixture)
{
    [Fact]
    public async Task Two_maps_on_one_application_multiplexer_push_changes_and_leave_it_open_and_unchanged()
    {
        await using var app = await ApplicationMultiplexer.ConnectAsync(fixture.Servers.Redis[0].EndPoint);
        var a = await TenancyTestKit.StartAsync(fixture.Servers, o =>
        {
            o.RedisConfiguration = null;
            o.ConnectionMultiplexerFactory = app.Factory;
        });
        var b = await TenancyTestKit.ConnectAsync(a.Options);
        await Eventually.TrueAsync(() => Task.FromResult(b.Map.IsPushConnected), TimeSpan.FromSeconds(10), "B subscribed");
        var tenant = TenancyTestKit.NewTenantId();
        await a.Admin.CreateTenantAsync(tenant, "basic", "shard-1");
        await Eventually.TrueAsync(() => Task.FromResult(b.Map.TryGetTenant(tenant, out _)), TimeSpan.FromSeconds(5), "the push reached B");
        Assert.DoesNotContain(await app.OtherClientNamesAsync(), n => n.StartsWith("scaling-", StringComparison.Ordinal));
        Assert.Equal(1, await app.SubscribersAsync(a.Options.MapChannel));

        await a.DisposeAsync();
        await b.DisposeAsync();
        Assert.Equal(0, await app.SubscribersAsync(a.Options.MapChannel));
        await app.AssertUntouchedAsync();
    }
}
