using Npgsql;
using Scaling.Tenancy.Sharding;
using Scaling.Testing;

namespace Scaling.Tenancy.Tests.Sharding;

[Collection(ServersCollection.Name)]
public sealed class ShardRouterTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task A_tenant_write_lands_on_its_shard_and_a_read_returns_it()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var one = TenancyTestKit.NewTenantId();
        var two = TenancyTestKit.NewTenantId();
        Assert.Equal("shard-1", (await kit.Admin.CreateTenantAsync(one, "basic", "shard-1")).ShardId);
        Assert.Equal("shard-2", (await kit.Admin.CreateTenantAsync(two, "premium", "shard-2")).ShardId);

        await kit.InsertNoteAsync(table, one, "on shard one");
        await kit.InsertNoteAsync(table, two, "on shard two");

        Assert.Equal(1L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE tenant_id = '{one}'"));
        Assert.Equal(0L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE tenant_id = '{two}'"));
        Assert.Equal(1L, await Servers.Shard2Primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE tenant_id = '{two}'"));
        var bodies = await kit.Router.ReadAsync(two, (c, ct) => TenancyTestKit.ReadBodiesAsync(c, $"SELECT body FROM {table}", ct));
        Assert.Equal(["on shard two"], bodies);
        var info = await kit.Map.FindAsync(two);
        Assert.Equal(new TenantInfo(two, "premium", "shard-2"), info);
    }

    [Fact]
    public async Task A_shard_whose_servers_change_gets_a_new_data_source_and_the_old_one_is_disposed_after_its_transactions()
    {
        var kit = await TenancyTestKit.StartAsync(Servers);
        Scaling.Data.ReadWriteDataSource old;
        try
        {
            old = kit.Router.GetShard("shard-2");
            var inFlight = await old.OpenWriteConnectionAsync();
            var transaction = await inFlight.BeginTransactionAsync();

            // The shard's connection string changes in the map (another instance, or an operator, moved it).
            await kit.Admin.AddShardAsync(new ShardInfo("shard-2", Servers.Shard2Primary.ConnectionString() + ";Application Name=replaced"));
            var replaced = kit.Router.GetShard("shard-2");

            Assert.NotSame(old, replaced);
            Assert.Equal(1, kit.Router.RetiringCount);
            await using (var command = new Npgsql.NpgsqlCommand("SELECT 1", inFlight, transaction))
            {
                Assert.Equal(1, await command.ExecuteScalarAsync()); // the transaction begun on the old data source finishes
            }

            await transaction.CommitAsync();
            await inFlight.DisposeAsync();
        }
        finally
        {
            await kit.DisposeAsync();
        }

        // Disposing the router waited for the retired data source and closed it; nothing was left fire-and-forget.
        Assert.Equal(0, kit.Router.RetiringCount);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await old.OpenWriteConnectionAsync());
    }

    [Fact]
    public async Task Row_level_security_hides_other_tenants_rows_from_a_query_without_a_tenant_filter_and_refuses_writing_them()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var mine = TenancyTestKit.NewTenantId("mine");
        var theirs = TenancyTestKit.NewTenantId("theirs");
        await kit.Admin.CreateTenantAsync(mine, "basic", "shard-1");
        await kit.Admin.CreateTenantAsync(theirs, "basic", "shard-1");
        await kit.InsertNoteAsync(table, mine, "mine");
        await kit.InsertNoteAsync(table, theirs, "theirs 1");
        await kit.InsertNoteAsync(table, theirs, "theirs 2");

        // The "forgetful" query: no tenant filter at all, on the primary and on the replica.
        var onPrimary = await kit.Router.WriteAsync(mine, (tx, ct) => TenancyTestKit.ReadBodiesAsync(tx.Connection!, $"SELECT body FROM {table}", ct));
        Assert.Equal(["mine"], onPrimary.Value);
        await Eventually.TrueAsync(
            async () => await Servers.Shard1Replica.ScalarAsync<long>($"SELECT count(*) FROM {table}") == 3,
            TimeSpan.FromSeconds(10),
            "the replica has the rows");
        var onReplica = await kit.Router.ReadAsync(mine, (c, ct) => TenancyTestKit.ReadBodiesAsync(c, $"SELECT body FROM {table} UNION ALL SELECT 'port ' || inet_server_port()", ct));
        Assert.Equal(["mine", $"port {Servers.Shard1Replica.Port}"], onReplica);

        // An update or delete without a tenant filter touches only the current tenant's rows.
        var updated = await kit.Router.WriteAsync(mine, async (tx, ct) =>
        {
            await using var command = new NpgsqlCommand($"UPDATE {table} SET body = 'changed'", tx.Connection, tx);
            return await command.ExecuteNonQueryAsync(ct);
        });
        Assert.Equal(1, updated.Value);

        // Writing a row of another tenant fails.
        var error = await Assert.ThrowsAsync<PostgresException>(() => kit.Router.WriteAsync(mine, async (tx, ct) =>
        {
            await using var command = new NpgsqlCommand($"INSERT INTO {table} (tenant_id, body) VALUES ($1, 'sneaky')", tx.Connection, tx);
            command.Parameters.Add(new() { Value = theirs.Value });
            return await command.ExecuteNonQueryAsync(ct);
        }));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
        Assert.Contains("row-level security", error.MessageText, StringComparison.Ordinal);

        Assert.Equal(2L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE tenant_id = '{theirs}' AND body LIKE 'theirs%'"));
        Assert.Equal(0L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE body = 'sneaky'"));
    }

    [Fact]
    public async Task ReadFromPrimaryAsync_reads_the_primary_as_the_tenant_even_when_a_replica_is_healthy()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var tenant = TenancyTestKit.NewTenantId();
        var other = TenancyTestKit.NewTenantId();
        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-1");
        await kit.Admin.CreateTenantAsync(other, "basic", "shard-1");
        await kit.InsertNoteAsync(table, tenant, "mine");
        await kit.InsertNoteAsync(table, other, "not mine");

        var read = await kit.Router.ReadFromPrimaryAsync(tenant, (c, ct) => TenancyTestKit.ReadBodiesAsync(c, $"SELECT body || ' ' || inet_server_port() FROM {table}", ct));
        Assert.Equal([$"mine {Servers.Shard1Primary.Port}"], read);
    }

    [Fact]
    public async Task Outside_a_tenant_transaction_the_tenant_role_sees_no_rows()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var tenant = TenancyTestKit.NewTenantId();
        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-2");
        await kit.InsertNoteAsync(table, tenant, "hidden");

        await using var connection = await kit.Router.GetShard("shard-2").OpenWriteConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await using var command = new NpgsqlCommand($"SET LOCAL ROLE {TenancyTestKit.TenantRole}; SELECT count(*) FROM {table}", connection, tx);
        Assert.Equal(0L, (long)(await command.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task New_tenants_go_to_the_open_shard_with_the_fewest_tenants()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        await kit.Admin.CreateTenantAsync(TenancyTestKit.NewTenantId(), "basic", "shard-1");
        await kit.Admin.CreateTenantAsync(TenancyTestKit.NewTenantId(), "basic", "shard-1");

        var placed = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            placed.Add((await kit.Admin.CreateTenantAsync(TenancyTestKit.NewTenantId(), "basic")).ShardId);
        }

        // shard-2 (0 tenants) takes the next two; then both have 2 and the tie goes to shard-1 (ordered by id).
        Assert.Equal(["shard-2", "shard-2", "shard-1"], placed);

        await kit.Admin.AddShardAsync(new ShardInfo("shard-2", Servers.Shard2Primary.ConnectionString(), state: ShardState.Closed));
        Assert.Equal("shard-1", (await kit.Admin.CreateTenantAsync(TenancyTestKit.NewTenantId(), "basic")).ShardId);
    }

    [Fact]
    public async Task Unknown_duplicate_and_invalid_tenants_fail_clearly()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var tenant = TenancyTestKit.NewTenantId();
        var unknown = await Assert.ThrowsAsync<TenantNotFoundException>(() => kit.Router.WriteAsync(tenant, (_, _) => Task.FromResult(1)));
        Assert.Equal(tenant, unknown.TenantId);
        Assert.Null(await kit.Map.FindAsync(tenant));

        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-1");
        var duplicate = await Assert.ThrowsAsync<InvalidOperationException>(() => kit.Admin.CreateTenantAsync(tenant, "basic", "shard-2"));
        Assert.Contains("already exists", duplicate.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await Servers.Shard2Primary.ScalarAsync<long>($"SELECT count(*) FROM scaling_tenancy.owned_tenants WHERE tenant_id = '{tenant}'"));

        await Assert.ThrowsAsync<ArgumentException>(() => kit.Admin.CreateTenantAsync(default, "basic"));
        await Assert.ThrowsAsync<ArgumentException>(() => kit.Admin.CreateTenantAsync(TenancyTestKit.NewTenantId(), "basic", "Shard_1"));
        await Assert.ThrowsAsync<ArgumentException>(() => kit.Admin.CreateTenantAsync(TenancyTestKit.NewTenantId(), "basic", "shard-9"));
    }

    [Fact]
    public async Task A_superuser_connection_without_a_tenant_role_is_refused_because_row_level_security_would_not_apply()
    {
        await using var admin = await TenancyTestKit.StartAsync(Servers);
        var tenant = TenancyTestKit.NewTenantId();
        await admin.Admin.CreateTenantAsync(tenant, "basic", "shard-1");

        var options = TenancyTestKit.NewOptions(Servers, o => o.TenantRole = null);
        options.MetadataSchema = admin.Options.MetadataSchema;
        await using var kit = await TenancyTestKit.ConnectAsync(options);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => kit.Router.WriteAsync(tenant, (_, _) => Task.FromResult(1)));
        Assert.Contains("superuser or has BYPASSRLS", error.Message, StringComparison.Ordinal);
        Assert.Contains("TenantRole", error.Message, StringComparison.Ordinal);
    }
}
