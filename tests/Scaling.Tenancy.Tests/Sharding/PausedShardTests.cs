using System.Diagnostics;
using Scaling.Tenancy.Sharding;
using Scaling.Testing;

namespace Scaling.Tenancy.Tests.Sharding;

/// <summary>
/// A shard primary that is connected but silent (SIGSTOP): every wait on it through the router is bounded, whether
/// the call was already on a connection when the server stopped answering or started after.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class PausedShardTests(ServersFixture fixture)
{
    // The kit's shards are probed every 200 ms with the default 2 s probe timeout: the verdict comes within 2.2 s.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(4);

    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task Reads_on_a_paused_primary_already_on_a_connection_get_a_retryable_error_within_the_bound_and_work_after_the_resume()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var tenant = TenancyTestKit.NewTenantId();
        var moved = TenancyTestKit.NewTenantId();
        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-2");
        await kit.Admin.CreateTenantAsync(moved, "basic", "shard-2");
        await kit.InsertNoteAsync(table, tenant, "before the pause");

        // A token of another shard sends a read to the tenant's primary (the tenant moved since that write).
        var otherShards = await kit.InsertNoteAsync(table, await NewTenantOnShard1Async(kit), "elsewhere");
        Assert.Equal("shard-1", otherShards.Token!.Value.ShardId);
        var sql = $"SELECT body FROM {table}";

        // Warm the pool, so that the reads below get a pooled connection at once and wait on the paused server itself.
        Assert.Equal(["before the pause"], await kit.Router.ReadFromPrimaryAsync(tenant, (c, ct) => TenancyTestKit.ReadBodiesAsync(c, sql, ct)));

        await Servers.Shard2Primary.PauseAsync();
        try
        {
            var reads = Enumerable.Range(0, 6).Select(i => TimeAsync(i % 2 == 0
                ? () => kit.Router.ReadFromPrimaryAsync(tenant, (c, ct) => TenancyTestKit.ReadBodiesAsync(c, sql, ct))
                : () => kit.Router.ReadAsync(moved, (c, ct) => TenancyTestKit.ReadBodiesAsync(c, sql, ct), otherShards.Token))).ToArray();
            var outcomes = await Task.WhenAll(reads);
            var summary = string.Join(", ", outcomes.Select(o => $"{o.Error?.GetType().Name ?? "ok"} in {o.Took.TotalMilliseconds:0} ms"));
            Assert.All(outcomes, o => Assert.True(o.Took <= Bound, $"a read waited {o.Took.TotalMilliseconds:0} ms: {summary}"));
            Assert.All(outcomes, o => Assert.Equal(TenantUnavailableReason.ShardUnavailable, Assert.IsType<TenantUnavailableException>(o.Error).Reason));
        }
        finally
        {
            await Servers.Shard2Primary.ResumeAsync();
        }

        await Eventually.TrueAsync(
            async () =>
            {
                try
                {
                    return (await kit.Router.ReadFromPrimaryAsync(tenant, (c, ct) => TenancyTestKit.ReadBodiesAsync(c, sql, ct))).SequenceEqual(["before the pause"]);
                }
                catch (TenantUnavailableException)
                {
                    return false;
                }
            },
            TimeSpan.FromSeconds(10),
            "reads on the resumed primary to work again");
    }

    [Fact]
    public async Task A_fan_out_with_a_paused_shard_ends_within_its_shard_timeout_and_reports_that_shard()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        const string Sql = "SELECT inet_server_port()";
        var shardTimeout = TimeSpan.FromSeconds(1);

        // Warm both shards' pools, so that the paused shard's query gets a pooled connection and waits on the server.
        await foreach (var _ in kit.Router.FanOut(Sql, r => r.GetInt32(0), options: new FanOutOptions { ReadFromPrimary = true }))
        {
        }

        await Servers.Shard2Primary.PauseAsync();
        try
        {
            var clock = Stopwatch.StartNew();
            var partial = kit.Router.FanOut(Sql, r => r.GetInt32(0), options: new FanOutOptions { Policy = FanOutPolicy.Partial, ReadFromPrimary = true, ShardTimeout = shardTimeout });
            var rows = new List<ShardRow<int>>();
            await foreach (var row in partial)
            {
                rows.Add(row);
            }

            Assert.True(clock.Elapsed < shardTimeout + TimeSpan.FromSeconds(1.5), $"the fan-out ended after {clock.ElapsedMilliseconds} ms");
            Assert.Equal(["shard-1"], rows.Select(r => r.ShardId));
            var failure = Assert.Single(partial.Failures);
            Assert.Equal("shard-2", failure.ShardId);
            Assert.IsType<TimeoutException>(failure.Error);
        }
        finally
        {
            await Servers.Shard2Primary.ResumeAsync();
        }
    }

    private static async Task<TenantId> NewTenantOnShard1Async(TenancyTestKit kit)
    {
        var id = TenancyTestKit.NewTenantId("one");
        await kit.Admin.CreateTenantAsync(id, "basic", "shard-1");
        return id;
    }

    private static async Task<(Exception? Error, TimeSpan Took)> TimeAsync(Func<Task<List<string>>> read)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            await read();
            return (null, clock.Elapsed);
        }
        catch (Exception e)
        {
            return (e, clock.Elapsed);
        }
    }
}
