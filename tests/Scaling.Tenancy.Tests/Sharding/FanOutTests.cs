using Scaling.Tenancy.Sharding;
using Scaling.Testing;

namespace Scaling.Tenancy.Tests.Sharding;

[Collection(ServersCollection.Name)]
public sealed class FanOutTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task A_fan_out_returns_every_shards_rows_tagged_with_their_shard()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var one = TenancyTestKit.NewTenantId();
        var two = TenancyTestKit.NewTenantId();
        await kit.Admin.CreateTenantAsync(one, "basic", "shard-1");
        await kit.Admin.CreateTenantAsync(two, "basic", "shard-2");
        await kit.InsertNoteAsync(table, one, "a");
        await kit.InsertNoteAsync(table, one, "b");
        await kit.InsertNoteAsync(table, two, "c");

        var query = kit.Router.FanOut(
            $"SELECT tenant_id, count(*) FROM {table} GROUP BY tenant_id",
            r => (Tenant: r.GetString(0), Count: r.GetInt64(1)),
            options: new FanOutOptions { ReadFromPrimary = true });
        var rows = new List<ShardRow<(string Tenant, long Count)>>();
        await foreach (var row in query)
        {
            rows.Add(row);
        }

        Assert.Equal(
            [("shard-1", one.Value, 2L), ("shard-2", two.Value, 1L)],
            rows.Select(r => (r.ShardId, r.Row.Tenant, r.Row.Count)).OrderBy(r => r.ShardId));
        Assert.Empty(query.Failures);
        Assert.Equal(["shard-1", "shard-2"], query.CompletedShards.Order());
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await query.GetAsyncEnumerator().MoveNextAsync());
    }

    [Fact]
    public async Task With_one_shard_stopped_Complete_fails_naming_it_and_Partial_returns_the_others_and_reports_it()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        const string Sql = "SELECT inet_server_port()";
        await Servers.Shard2Primary.StopAsync();
        try
        {
            var complete = kit.Router.FanOut(Sql, r => r.GetInt32(0), options: new FanOutOptions { ReadFromPrimary = true, ShardTimeout = TimeSpan.FromSeconds(5) });
            var error = await Assert.ThrowsAsync<FanOutException>(async () =>
            {
                await foreach (var _ in complete)
                {
                }
            });
            Assert.Equal("shard-2", Assert.Single(error.Failures).ShardId);
            Assert.Contains("shard-2", error.Message, StringComparison.Ordinal);

            var partial = kit.Router.FanOut(Sql, r => r.GetInt32(0), options: new FanOutOptions { Policy = FanOutPolicy.Partial, ShardTimeout = TimeSpan.FromSeconds(5) });
            var rows = new List<ShardRow<int>>();
            await foreach (var row in partial)
            {
                rows.Add(row);
            }

            var only = Assert.Single(rows);
            Assert.Equal("shard-1", only.ShardId);
            Assert.Contains(only.Row, new[] { Servers.Shard1Primary.Port, Servers.Shard1Replica.Port });
            var failure = Assert.Single(partial.Failures);
            Assert.Equal(("shard-2", 0L, false), (failure.ShardId, failure.RowsDelivered, failure.TimedOut));
            Assert.Equal(["shard-1"], partial.CompletedShards);
        }
        finally
        {
            await Servers.Shard2Primary.RestartAsync();
        }
    }

    [Fact]
    public async Task A_shard_slower_than_the_per_shard_timeout_is_reported_as_timed_out_and_cancellation_stops_everything()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);

        // Every shard's data source opened first: the 500 ms timed below is the query's, not a cold first connection's
        // (which a loaded CI machine can take longer than that to open).
        await foreach (var _ in kit.Router.FanOut("SELECT 1", r => r.GetInt32(0), options: new FanOutOptions { ReadFromPrimary = true }))
        {
        }

        var sql = $"SELECT inet_server_port() FROM pg_sleep(CASE WHEN inet_server_port() = {Servers.Shard2Primary.Port} THEN 10 ELSE 0 END)";
        var partial = kit.Router.FanOut(sql, r => r.GetInt32(0), options: new FanOutOptions { Policy = FanOutPolicy.Partial, ReadFromPrimary = true, ShardTimeout = TimeSpan.FromMilliseconds(500) });
        var started = DateTime.UtcNow;
        var rows = new List<ShardRow<int>>();
        await foreach (var row in partial)
        {
            rows.Add(row);
        }

        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(8), "the slow shard was not waited for");
        Assert.Equal("shard-1", Assert.Single(rows).ShardId);
        Assert.True(Assert.Single(partial.Failures).TimedOut);

        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var slow = kit.Router.FanOut("SELECT 1 FROM pg_sleep(10)", r => r.GetInt32(0), options: new FanOutOptions { ReadFromPrimary = true });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in slow.WithCancellation(cancel.Token))
            {
            }
        });
        Assert.Empty(slow.Failures);
    }
}
