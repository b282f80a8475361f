using Npgsql;
using Scaling.Tenancy.Sharding;
using Scaling.Testing;

namespace Scaling.Tenancy.Tests.Sharding;

/// <summary><see cref="ShardRouter.ReadBatchAsync{T}"/>: the tenant's entry and the read in one batch, one implicit transaction.</summary>
[Collection(ServersCollection.Name)]
public sealed class ReadBatchTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Theory]
    [InlineData("shard-1")] // read from the replica that has the write (the token)
    [InlineData("shard-2")] // no replica: the primary
    public async Task A_batch_reads_as_the_tenant_in_one_implicit_transaction_and_leaves_nothing_of_the_tenant_on_the_connection(string shard)
    {
        // No session reset when a connection goes back to the pool (as BookingHost runs, and as behind PgBouncer): only
        // the transaction's end can have removed the tenant.
        await using var kit = await TenancyTestKit.StartAsync(Servers, o =>
        {
            var configure = o.ConfigureShard;
            o.ConfigureShard = (info, data) =>
            {
                configure?.Invoke(info, data);
                data.ConfigureDataSource = (builder, _) => builder.ConnectionStringBuilder.NoResetOnClose = true;
            };
        });
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var mine = TenancyTestKit.NewTenantId("mine");
        var theirs = TenancyTestKit.NewTenantId("theirs");
        await kit.Admin.CreateTenantAsync(mine, "basic", shard);
        await kit.Admin.CreateTenantAsync(theirs, "basic", shard);
        await kit.InsertNoteAsync(table, theirs, "theirs");
        var written = await kit.InsertNoteAsync(table, mine, "mine");

        // Two commands without a tenant filter: both see only the tenant's rows, so the entry's settings held for each.
        var (bodies, count, pid, onReplica) = await kit.Router.ReadBatchAsync(
            mine,
            batch =>
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT body FROM {table} ORDER BY id"));
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT count(*), pg_backend_pid(), pg_is_in_recovery() FROM {table}"));
            },
            async (reader, ct) =>
            {
                var list = await TenancyTestKit.ReadStringsAsync(reader, ct);
                Assert.True(await reader.NextResultAsync(ct));
                Assert.True(await reader.ReadAsync(ct));
                return (list, reader.GetInt64(0), reader.GetInt32(1), reader.GetBoolean(2));
            },
            written.Token);
        Assert.Equal(["mine"], bodies);
        Assert.Equal(1L, count);

        // The batch's connection, back in the pool: no tenant, no tenant role (the implicit transaction ended with it). It is
        // looked for on the server the batch ran on (with a token, shard 1 reads its replica once it has replayed the
        // write, its primary before: CI once saw the batch on one and the check on the other).
        var dataSource = kit.Router.GetShard(shard);
        var sessions = new List<(int Pid, string? Tenant, bool SessionRole)>();
        var connections = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < 10 && !sessions.Exists(s => s.Pid == pid); i++)
            {
                var connection = onReplica
                    ? await dataSource.OpenReadConnectionAsync(written.Token!.Value.Token)
                    : await dataSource.OpenWriteConnectionAsync();
                connections.Add(connection);
                await using var command = new NpgsqlCommand("SELECT pg_backend_pid(), current_setting('scaling.tenant_id', true), current_user = session_user", connection);
                await using var reader = await command.ExecuteReaderAsync();
                Assert.True(await reader.ReadAsync());
                sessions.Add((reader.GetInt32(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetBoolean(2)));
            }
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }

        var session = Assert.Single(sessions, s => s.Pid == pid);
        Assert.True(string.IsNullOrEmpty(session.Tenant), $"the tenant '{session.Tenant}' survived the batch");
        Assert.True(session.SessionRole, "the tenant role survived the batch");

        // Only the router's own command: refused before anything is sent.
        var empty = await Assert.ThrowsAsync<ArgumentException>(() => kit.Router.ReadBatchAsync(mine, _ => { }, (_, _) => Task.FromResult(0)));
        Assert.Equal("build", empty.ParamName);
    }

    [Fact]
    public async Task ReadBatchFromPrimaryAsync_reads_the_primary_as_the_tenant_even_when_a_replica_is_healthy()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var tenant = TenancyTestKit.NewTenantId();
        var other = TenancyTestKit.NewTenantId();
        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-1");
        await kit.Admin.CreateTenantAsync(other, "basic", "shard-1");
        await kit.InsertNoteAsync(table, tenant, "mine");
        await kit.InsertNoteAsync(table, other, "not mine");
        await Eventually.TrueAsync(
            () => Task.FromResult(kit.Router.GetShard("shard-1").GetReplicaStatuses().Single().Health == Scaling.Data.ReplicaHealth.Healthy),
            TimeSpan.FromSeconds(10),
            "shard 1's replica is healthy");

        var read = await kit.Router.ReadBatchFromPrimaryAsync(
            tenant,
            batch => batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT body || ' ' || inet_server_port() FROM {table}")),
            TenancyTestKit.ReadStringsAsync);
        Assert.Equal([$"mine {Servers.Shard1Primary.Port}"], read);
    }

    [Fact]
    public async Task A_batch_from_a_stale_map_is_refused_by_the_old_shard_and_read_on_the_new_one()
    {
        await using var a = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var tenant = TenancyTestKit.NewTenantId();
        await using var b = await a.ConnectWithStaleMapAsync(Servers, tenant); // B's map still says shard 2; it is on shard 1
        await Servers.Shard1Primary.ExecuteAsync($"INSERT INTO {table} (tenant_id, body) VALUES ('{tenant}', 'moved')");
        await Servers.Shard2Primary.ExecuteAsync($"INSERT INTO {table} (tenant_id, body) VALUES ('{tenant}', 'left behind')");
        await Eventually.TrueAsync(
            async () => await Servers.Shard1Replica.ScalarAsync<long>($"SELECT count(*) FROM {table} JOIN scaling_tenancy.owned_tenants USING (tenant_id) WHERE tenant_id = '{tenant}'") == 1,
            TimeSpan.FromSeconds(10),
            "shard 1's replica has the tenant and its row");

        var builds = 0;
        var bodies = await b.Router.ReadBatchAsync(
            tenant,
            batch =>
            {
                builds++;
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT body FROM {table}"));
            },
            TenancyTestKit.ReadStringsAsync);

        // Shard 2's entry refused the tenant before the query ran; built again for shard 1, where it was read.
        Assert.Equal(2, builds);
        Assert.Equal(["moved"], bodies);
    }
}
