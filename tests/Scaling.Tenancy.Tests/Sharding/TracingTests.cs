using System.Diagnostics;
using Npgsql;
using Scaling.Tenancy.Sharding;
using Scaling.Testing;

namespace Scaling.Tenancy.Tests.Sharding;

/// <summary>The spans of the <c>Scaling.Tenancy</c> activity source: a tenant routed to its shard, and why it could not be.</summary>
[Collection(ServersCollection.Name)]
public sealed class TracingTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task A_tenant_write_and_read_are_traced_with_tenant_shard_and_epoch_and_the_data_spans_nest_under_them()
    {
        using var spans = new ActivityRecorder("Scaling.Tenancy");
        using var dataSpans = new ActivityRecorder("Scaling.Data");
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var tenant = TenancyTestKit.NewTenantId();
        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-2");

        using var trace = ActivityRecorder.StartTrace();
        var written = await kit.InsertNoteAsync(table, tenant, "traced");
        var bodies = await kit.Router.ReadAsync(tenant, (c, ct) => TenancyTestKit.ReadBodiesAsync(c, $"SELECT body FROM {table}", ct), written.Token);
        Assert.Equal(["traced"], bodies);
        var placement = await kit.Router.RouteAsync(tenant);

        foreach (var name in new[] { "tenant write", "tenant read", "tenant route" })
        {
            var span = Assert.Single(spans.InTrace(trace, name));
            Assert.Equal(ActivityKind.Internal, span.Kind);
            Assert.Equal(tenant.Value, span.GetTagItem("scaling.tenancy.tenant_id"));
            Assert.Equal("shard-2", span.GetTagItem("scaling.tenancy.shard_id"));
            Assert.Equal(kit.Map.Epoch, span.GetTagItem("scaling.tenancy.map_epoch"));
            Assert.True(kit.Map.Epoch >= placement.Epoch);
            Assert.Equal("active", span.GetTagItem("scaling.tenancy.tenant_state"));
            Assert.Equal(ActivityStatusCode.Unset, span.Status);
            Assert.Equal(trace.SpanId, span.ParentSpanId);
        }

        // The shard's data source traces the same write and read, as children of the tenant's spans.
        var tenantWrite = Assert.Single(spans.InTrace(trace, "tenant write"));
        var tenantRead = Assert.Single(spans.InTrace(trace, "tenant read"));
        var dataWrite = Assert.Single(dataSpans.InTrace(trace, "data write"));
        var dataRead = Assert.Single(dataSpans.InTrace(trace, "data read"));
        Assert.Equal(tenantWrite.SpanId, dataWrite.ParentSpanId);
        Assert.Equal(tenantRead.SpanId, dataRead.ParentSpanId);
        Assert.Equal(Servers.Shard2Primary.Port, dataWrite.GetTagItem("server.port"));
        Assert.Equal("no_replicas", dataRead.GetTagItem("scaling.data.route.reason"));
    }

    [Fact]
    public async Task An_unknown_tenant_a_read_only_tenant_and_an_unreachable_shard_are_traced_as_errors()
    {
        using var spans = new ActivityRecorder("Scaling.Tenancy");
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var finishing = TenancyTestKit.NewTenantId("ro");
        var stranded = TenancyTestKit.NewTenantId("down");
        await kit.Admin.CreateTenantAsync(finishing, "basic", "shard-1");
        await kit.Admin.CreateTenantAsync(stranded, "basic", "shard-2");

        // Unknown.
        var unknown = TenancyTestKit.NewTenantId("unknown");
        using (var trace = ActivityRecorder.StartTrace())
        {
            await Assert.ThrowsAsync<TenantNotFoundException>(async () => await kit.Router.RouteAsync(unknown));
            var route = Assert.Single(spans.InTrace(trace, "tenant route"));
            Assert.Equal(unknown.Value, route.GetTagItem("scaling.tenancy.tenant_id"));
            Assert.Null(route.GetTagItem("scaling.tenancy.shard_id"));
            Assert.Equal(ActivityStatusCode.Error, route.Status);
            Assert.Equal(typeof(TenantNotFoundException).FullName, route.GetTagItem("error.type"));
        }

        // Read-only: the final step of a move refuses writes.
        await kit.Map.SetTenantStateAsync(finishing, "read_only", null, CancellationToken.None);
        await Eventually.TrueAsync(
            () => Task.FromResult(kit.Map.TryGetTenant(finishing, out var p) && p.State == TenantState.ReadOnly),
            TimeSpan.FromSeconds(10),
            "the map to see the tenant read-only");
        using (var trace = ActivityRecorder.StartTrace())
        {
            var refused = await Assert.ThrowsAsync<TenantUnavailableException>(() => kit.InsertNoteAsync(table, finishing, "refused"));
            Assert.Equal(TenantUnavailableReason.ReadOnly, refused.Reason);
            var write = Assert.Single(spans.InTrace(trace, "tenant write"));
            Assert.Equal("shard-1", write.GetTagItem("scaling.tenancy.shard_id"));
            Assert.Equal("read_only", write.GetTagItem("scaling.tenancy.tenant_state"));
            Assert.Equal(kit.Map.Epoch, write.GetTagItem("scaling.tenancy.map_epoch"));
            Assert.Equal(ActivityStatusCode.Error, write.Status);
            Assert.Equal(typeof(TenantUnavailableException).FullName, write.GetTagItem("error.type"));
            Assert.Equal("read_only", write.GetTagItem("scaling.tenancy.unavailable_reason"));
        }

        // Unreachable: shard-2's primary now points at a port nothing listens on (in this test's own map).
        await kit.Map.UpsertShardAsync(new ShardInfo("shard-2", ClosedPortConnectionString()), CancellationToken.None);
        await Eventually.TrueAsync(
            () => Task.FromResult(kit.Map.TryGetShard("shard-2", out var shard) && shard.PrimaryConnectionString.Contains("Database=scaling_closed", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(10),
            "the map to see shard-2's new server");
        using (var trace = ActivityRecorder.StartTrace())
        {
            var unreachable = await Assert.ThrowsAsync<TenantUnavailableException>(() => kit.InsertNoteAsync(table, stranded, "lost"));
            Assert.Equal(TenantUnavailableReason.ShardUnavailable, unreachable.Reason);
            var write = Assert.Single(spans.InTrace(trace, "tenant write"));
            Assert.Equal("shard-2", write.GetTagItem("scaling.tenancy.shard_id"));
            Assert.Equal(ActivityStatusCode.Error, write.Status);
            Assert.Equal("shard_unavailable", write.GetTagItem("scaling.tenancy.unavailable_reason"));
        }
    }

    private static string ClosedPortConnectionString()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = port, Username = "postgres", Database = "scaling_closed" }.ConnectionString;
    }
}
