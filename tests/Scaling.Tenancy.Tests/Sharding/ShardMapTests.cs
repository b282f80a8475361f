using Npgsql;
using Scaling.Tenancy.Sharding;
using Scaling.Testing;
using Microsoft.Extensions.Options;

namespace Scaling.Tenancy.Tests.Sharding;

[Collection(ServersCollection.Name)]
public sealed class ShardMapTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task A_change_bumps_the_epoch_and_reaches_another_instance_over_the_redis_push()
    {
        await using var a = await TenancyTestKit.StartAsync(Servers);
        await using var b = await TenancyTestKit.ConnectAsync(a.Options);
        await Eventually.TrueAsync(() => Task.FromResult(b.Map.IsPushConnected), TimeSpan.FromSeconds(10), "instance B subscribed");
        var before = b.Map.Epoch;
        Assert.Equal(a.Map.Epoch, before);

        var tenant = TenancyTestKit.NewTenantId();
        await a.Admin.CreateTenantAsync(tenant, "premium", "shard-2");

        // The periodic refresh is 30 s: only the push can deliver this within the wait.
        await Eventually.TrueAsync(() => Task.FromResult(b.Map.TryGetTenant(tenant, out _)), TimeSpan.FromSeconds(5), "instance B sees the new tenant");
        Assert.True(b.Map.Epoch > before);
        Assert.Equal(a.Map.Epoch, b.Map.Epoch);
        Assert.True(b.Map.TryGetTenant(tenant, out var placement));
        Assert.Equal(("shard-2", "premium", TenantState.Active), (placement.ShardId, placement.Plan, placement.State));
    }

    [Fact]
    public async Task Without_redis_the_periodic_refresh_picks_up_changes()
    {
        await using var a = await TenancyTestKit.StartAsync(Servers);
        var options = TenancyTestKit.NewOptions(Servers, o =>
        {
            o.RedisConfiguration = null;
            o.RefreshInterval = TimeSpan.FromMilliseconds(200);
        });
        options.MetadataSchema = a.Options.MetadataSchema;
        await using var b = await TenancyTestKit.ConnectAsync(options);
        Assert.False(b.Map.IsPushConnected);

        var tenant = TenancyTestKit.NewTenantId();
        await a.Admin.CreateTenantAsync(tenant, "basic", "shard-1");
        await Eventually.TrueAsync(() => Task.FromResult(b.Map.TryGetTenant(tenant, out _)), TimeSpan.FromSeconds(5), "the periodic refresh loads the tenant");
    }

    [Fact]
    public async Task A_tenant_created_through_another_instance_is_found_before_any_push_or_periodic_refresh_and_unknown_ids_stay_unknown()
    {
        await using var a = await TenancyTestKit.StartAsync(Servers);
        var options = TenancyTestKit.NewOptions(Servers, o =>
        {
            o.RedisConfiguration = null; // no push
            o.RefreshInterval = TimeSpan.FromMinutes(10); // no periodic refresh within the test
        });
        options.MetadataSchema = a.Options.MetadataSchema;
        await using var b = await TenancyTestKit.ConnectAsync(options);

        var tenant = TenancyTestKit.NewTenantId();
        await a.Admin.CreateTenantAsync(tenant, "basic", "shard-2");
        Assert.False(b.Map.TryGetTenant(tenant, out _)); // B's cached map has not seen it

        var found = await b.Map.FindAsync(tenant);
        Assert.NotNull(found);
        Assert.True(b.Map.TryGetTenant(tenant, out var placement));
        Assert.Equal("shard-2", placement.ShardId);

        // Unknown ids: still no tenant, and one shared check per interval (made-up ids cannot flood the metadata
        // database): a tenant created right after such a check is not seen until the interval has passed.
        await Task.Delay(TimeSpan.FromSeconds(1.1)); // let the interval of the lookup above pass
        var burst = System.Diagnostics.Stopwatch.StartNew();
        var unknown = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => b.Map.GetTenantAsync(TenancyTestKit.NewTenantId("missing")).AsTask()));
        Assert.All(unknown, Assert.Null);
        var second = TenancyTestKit.NewTenantId();
        await a.Admin.CreateTenantAsync(second, "basic", "shard-1");
        var early = await b.Map.FindAsync(second);
        if (burst.Elapsed < TimeSpan.FromSeconds(0.8))
        {
            Assert.Null(early); // within the interval of the burst's check: no new check
        }

        await Task.Delay(TimeSpan.FromSeconds(1.1));
        Assert.NotNull(await b.Map.FindAsync(second));
    }

    [Fact]
    public async Task A_route_from_a_stale_map_is_refused_by_the_shard_corrected_by_a_refresh_and_never_served_from_the_wrong_shard()
    {
        await using var a = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var tenant = TenancyTestKit.NewTenantId();
        await a.Admin.CreateTenantAsync(tenant, "basic", "shard-1");
        await a.InsertNoteAsync(table, tenant, "before the move");

        // Instance B: no push and no periodic refresh within the test, so its map goes stale.
        var options = TenancyTestKit.NewOptions(Servers, o => o.RedisConfiguration = null);
        options.MetadataSchema = a.Options.MetadataSchema;
        await using var b = await TenancyTestKit.ConnectAsync(options);
        Assert.True(b.Map.TryGetTenant(tenant, out var stale));
        Assert.Equal("shard-1", stale.ShardId);

        // The tenant's ownership and rows go to shard-2 and the map is flipped behind B's back.
        await Servers.Shard2Primary.ExecuteAsync($"INSERT INTO scaling_tenancy.owned_tenants (tenant_id, state) VALUES ('{tenant}', 'active'); INSERT INTO {table} (tenant_id, body) VALUES ('{tenant}', 'after the move')");
        await Servers.Shard1Primary.ExecuteAsync($"DELETE FROM scaling_tenancy.owned_tenants WHERE tenant_id = '{tenant}'");
        await Servers.Metadata.ExecuteAsync(
            $"UPDATE {a.Options.MetadataSchema}.map_epoch SET epoch = epoch + 1; UPDATE {a.Options.MetadataSchema}.tenants SET shard_id = 'shard-2', epoch = (SELECT epoch FROM {a.Options.MetadataSchema}.map_epoch) WHERE tenant_id = '{tenant}'",
            PostgresServer.MetadataDatabase);

        // A replica that has not replayed the ownership change yet would rightly serve its earlier snapshot (a read
        // without a token may lag); this test is about the stale route, so shard 1's replica catches up first.
        var flipped = await Servers.Shard1Primary.GetCurrentWalLsnAsync();
        await Eventually.TrueAsync(async () => await Servers.Shard1Replica.GetReplayLsnAsync() >= flipped, TimeSpan.FromSeconds(10), "shard 1's replica replays the ownership change");

        using var stale_routes = new TenancyCounter("scaling.tenancy.routes.stale");
        var read = await b.Router.ReadAsync(tenant, (c, ct) => TenancyTestKit.ReadBodiesAsync(c, $"SELECT body FROM {table}", ct));
        Assert.Equal(["after the move"], read);
        Assert.True(b.Map.TryGetTenant(tenant, out var fresh));
        Assert.Equal("shard-2", fresh.ShardId);
        Assert.Equal(1, stale_routes.Total);

        await b.InsertNoteAsync(table, tenant, "written by B");
        Assert.Equal(0L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE body = 'written by B'"));
        Assert.Equal(1L, await Servers.Shard2Primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE body = 'written by B'"));
    }

    [Fact]
    public async Task A_write_from_a_stale_map_is_corrected_before_anything_is_written()
    {
        await using var a = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var tenant = TenancyTestKit.NewTenantId();
        await using var b = await a.ConnectWithStaleMapAsync(Servers, tenant);

        var attempts = 0;
        await b.Router.WriteAsync(tenant, async (tx, ct) =>
        {
            attempts++;
            await using var command = new NpgsqlCommand($"INSERT INTO {table} (tenant_id, body) VALUES ($1, 'once')", tx.Connection, tx);
            command.Parameters.Add(new() { Value = tenant.Value });
            return await command.ExecuteNonQueryAsync(ct);
        });

        Assert.Equal(1, attempts); // the refused route never reached the caller's code
        Assert.Equal(1L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE tenant_id = '{tenant}'"));
        Assert.Equal(0L, await Servers.Shard2Primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE tenant_id = '{tenant}'"));
    }

    [Fact]
    public async Task With_the_metadata_database_down_routing_goes_on_from_the_cached_map()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers, o => o.RefreshInterval = TimeSpan.FromMilliseconds(200));
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var tenant = TenancyTestKit.NewTenantId();
        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-2");
        var epoch = kit.Map.Epoch;

        await Servers.Metadata.StopAsync();
        try
        {
            await Task.Delay(600); // a few periodic refreshes fail meanwhile
            await kit.InsertNoteAsync(table, tenant, "while metadata is down");
            var bodies = await kit.Router.ReadAsync(tenant, (c, ct) => TenancyTestKit.ReadBodiesAsync(c, $"SELECT body FROM {table}", ct));
            Assert.Equal(["while metadata is down"], bodies);
            Assert.Equal(epoch, kit.Map.Epoch);
            Assert.NotNull(await kit.Map.FindAsync(tenant));

            // A process that never loaded the map cannot route: a clear, retryable error.
            var options = TenancyTestKit.NewOptions(Servers);
            options.MetadataSchema = kit.Options.MetadataSchema;
            await using var cold = new ShardMap(Options.Create(options));
            var error = await Assert.ThrowsAsync<TenantUnavailableException>(async () => await cold.FindAsync(tenant));
            Assert.Equal(TenantUnavailableReason.DirectoryUnavailable, error.Reason);
        }
        finally
        {
            await Servers.Metadata.RestartAsync();
        }

        var other = TenancyTestKit.NewTenantId();
        await kit.Admin.CreateTenantAsync(other, "basic", "shard-1");
        Assert.True(kit.Map.Epoch > epoch);
    }

    [Fact]
    public async Task With_the_metadata_database_paused_known_tenants_route_at_once_and_an_unknown_one_gets_a_retryable_error_within_the_metadata_timeout()
    {
        var metadataTimeout = TimeSpan.FromSeconds(1);
        await using var kit = await TenancyTestKit.StartAsync(Servers, o =>
        {
            o.RefreshInterval = TimeSpan.FromMilliseconds(200);
            o.MetadataTimeout = metadataTimeout;
        });
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var tenant = TenancyTestKit.NewTenantId();
        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-2");

        // Warm shard-2's data source (first connection, type loading, role check) with another tenant, so the timing
        // below measures routing while the metadata database is paused, not a cold start on a loaded machine.
        var warm = TenancyTestKit.NewTenantId("warm");
        await kit.Admin.CreateTenantAsync(warm, "basic", "shard-2");
        await kit.InsertNoteAsync(table, warm, "warm-up");

        await Servers.Metadata.PauseAsync();
        try
        {
            await Task.Delay(600); // periodic refreshes start and hang meanwhile
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await kit.InsertNoteAsync(table, tenant, "while metadata is paused");
            Assert.Equal(["while metadata is paused"], await kit.Router.ReadAsync(tenant, (c, ct) => TenancyTestKit.ReadBodiesAsync(c, $"SELECT body FROM {table}", ct)));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"a known tenant's write and read took {clock.ElapsedMilliseconds} ms");

            // An id the cached map lacks may have been created a moment ago elsewhere: not a 404, and not a hang.
            clock.Restart();
            var error = await Assert.ThrowsAsync<TenantUnavailableException>(async () => await kit.Map.FindAsync(TenancyTestKit.NewTenantId("unknown")));
            Assert.Equal(TenantUnavailableReason.DirectoryUnavailable, error.Reason);
            Assert.Contains("did not answer", error.Message, StringComparison.Ordinal);
            Assert.True(clock.Elapsed < metadataTimeout + TimeSpan.FromSeconds(1.5), $"the unknown tenant was answered after {clock.ElapsedMilliseconds} ms");

            clock.Restart();
            Assert.False(await kit.Map.RefreshAsync());
            Assert.True(clock.Elapsed < metadataTimeout + TimeSpan.FromSeconds(1.5), $"the refresh was answered after {clock.ElapsedMilliseconds} ms");
        }
        finally
        {
            await Servers.Metadata.ResumeAsync();
        }

        // After the resume it recovers by itself: a new tenant is created and found, an unknown id is a plain miss.
        var other = TenancyTestKit.NewTenantId();
        await kit.Admin.CreateTenantAsync(other, "basic", "shard-1");
        Assert.NotNull(await kit.Map.FindAsync(other));
        Assert.Null(await kit.Map.FindAsync(TenancyTestKit.NewTenantId("unknown")));
    }

    [Fact]
    public async Task A_tenant_whose_shard_is_down_fails_with_a_tenant_scoped_retryable_error_while_other_tenants_keep_working()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var up = TenancyTestKit.NewTenantId("up");
        var down = TenancyTestKit.NewTenantId("down");
        await kit.Admin.CreateTenantAsync(up, "basic", "shard-1");
        await kit.Admin.CreateTenantAsync(down, "basic", "shard-2");

        await Servers.Shard2Primary.StopAsync();
        try
        {
            var error = await Assert.ThrowsAsync<TenantUnavailableException>(() => kit.InsertNoteAsync(table, down, "lost?"));
            Assert.Equal(down, error.TenantId);
            Assert.Equal(TenantUnavailableReason.ShardUnavailable, error.Reason);
            Assert.Contains("shard-2", error.Message, StringComparison.Ordinal);
            Assert.True(error.RetryAfter >= TimeSpan.FromSeconds(1));
            var read = await Assert.ThrowsAsync<TenantUnavailableException>(() => kit.Router.ReadAsync(down, (c, ct) => TenancyTestKit.ReadBodiesAsync(c, $"SELECT body FROM {table}", ct)));
            Assert.Equal(TenantUnavailableReason.ShardUnavailable, read.Reason);

            var written = await kit.InsertNoteAsync(table, up, "still fine");
            Assert.Equal(["still fine"], await kit.Router.ReadAsync(up, (c, ct) => TenancyTestKit.ReadBodiesAsync(c, $"SELECT body FROM {table}", ct), written.Token));
        }
        finally
        {
            await Servers.Shard2Primary.RestartAsync();
        }

        await Eventually.TrueAsync(
            async () =>
            {
                try
                {
                    await kit.InsertNoteAsync(table, down, "back");
                    return true;
                }
                catch (TenantUnavailableException)
                {
                    return false;
                }
            },
            TimeSpan.FromSeconds(20),
            "the tenant on the restarted shard is served again");
    }
}
