using Npgsql;
using Scaling.Tenancy.Sharding;
using Scaling.Testing;

namespace Scaling.Tenancy.Tests.Sharding;

/// <summary><see cref="ShardRouter.WriteBatchAsync{T}"/>: the tenant's entry, the write and its commit in one batch.</summary>
[Collection(ServersCollection.Name)]
public sealed class WriteBatchTests(ServersFixture fixture)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task A_batch_runs_as_the_tenant_and_a_row_of_another_tenant_rolls_back_the_whole_batch()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var mine = TenancyTestKit.NewTenantId("mine");
        var theirs = TenancyTestKit.NewTenantId("theirs");
        await kit.Admin.CreateTenantAsync(mine, "basic", "shard-1");
        await kit.Admin.CreateTenantAsync(theirs, "basic", "shard-1");
        await kit.InsertNoteAsync(table, theirs, "theirs");

        // An update without a tenant filter touches only the tenant's rows; the result sees only the caller's commands.
        var written = await kit.Router.WriteBatchAsync(
            mine,
            batch =>
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {table} (tenant_id, body) VALUES ($1, 'mine')") { Parameters = { new() { Value = mine.Value } } });
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"UPDATE {table} SET body = body || ' (updated)'"));
            },
            commands => (commands.Count, commands[0].RecordsAffected, commands[1].RecordsAffected));
        Assert.Equal((2, 1, 1), written.Value);
        Assert.Equal("shard-1", Assert.NotNull(written.Token).ShardId);
        Assert.Equal(1L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE body = 'theirs'"));

        // A row of another tenant is refused by row-level security, and the batch's earlier insert goes with it.
        var error = await Assert.ThrowsAsync<PostgresException>(() => kit.Router.WriteBatchAsync(
            mine,
            batch =>
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {table} (tenant_id, body) VALUES ($1, 'first')") { Parameters = { new() { Value = mine.Value } } });
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {table} (tenant_id, body) VALUES ($1, 'sneaky')") { Parameters = { new() { Value = theirs.Value } } });
            },
            _ => 0));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
        Assert.Equal(0L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE body IN ('first', 'sneaky')"));

        // Only the router's own commands: refused before anything is sent.
        var empty = await Assert.ThrowsAsync<ArgumentException>(() => kit.Router.WriteBatchAsync(mine, _ => { }, _ => 0));
        Assert.Equal("build", empty.ParamName);
    }

    [Fact]
    public async Task A_returning_batch_reads_its_rows_as_the_tenant_from_its_first_command()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var mine = TenancyTestKit.NewTenantId("mine");
        var theirs = TenancyTestKit.NewTenantId("theirs");
        await kit.Admin.CreateTenantAsync(mine, "basic", "shard-2");
        await kit.Admin.CreateTenantAsync(theirs, "basic", "shard-2");
        await kit.InsertNoteAsync(table, theirs, "theirs");

        // The reader starts at the caller's first command (the entry's row is skipped); the count sees only the tenant's rows.
        var written = await kit.Router.WriteBatchReturningAsync(
            mine,
            batch =>
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {table} (tenant_id, body) VALUES ($1, 'mine') RETURNING body, current_setting('scaling.tenant_id')") { Parameters = { new() { Value = mine.Value } } });
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT count(*) FROM {table}"));
            },
            async (reader, ct) =>
            {
                Assert.True(await reader.ReadAsync(ct));
                var row = (reader.GetString(0), reader.GetString(1));
                Assert.True(await reader.NextResultAsync(ct));
                Assert.True(await reader.ReadAsync(ct));
                return (row, reader.GetInt64(0));
            });
        Assert.Equal((("mine", mine.Value), 1L), written.Value);
        Assert.Equal("shard-2", Assert.NotNull(written.Token).ShardId);

        var empty = await Assert.ThrowsAsync<ArgumentException>(() => kit.Router.WriteBatchReturningAsync(mine, _ => { }, (_, _) => Task.FromResult(0)));
        Assert.Equal("build", empty.ParamName);
    }

    [Fact]
    public async Task A_batch_from_a_stale_map_is_refused_by_the_old_shard_and_written_once_on_the_new_one()
    {
        await using var a = await TenancyTestKit.StartAsync(Servers);
        var table = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var tenant = TenancyTestKit.NewTenantId();
        await using var b = await a.ConnectWithStaleMapAsync(Servers, tenant); // B's map still says shard 2; it is on shard 1

        var builds = 0;
        var written = await b.Router.WriteBatchAsync(
            tenant,
            batch =>
            {
                builds++;
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {table} (tenant_id, body) VALUES ($1, 'once')") { Parameters = { new() { Value = tenant.Value } } });
            },
            commands => commands[0].RecordsAffected);

        Assert.Equal(1, written.Value);
        Assert.Equal("shard-1", Assert.NotNull(written.Token).ShardId);
        Assert.Equal(2, builds); // built for shard 2, refused there by the entry before the insert ran, built again for shard 1
        Assert.Equal(1L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE tenant_id = '{tenant}'"));
        Assert.Equal(0L, await Servers.Shard2Primary.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE tenant_id = '{tenant}'"));
    }
}
