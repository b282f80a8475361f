using System.Collections.Concurrent;
using System.Data;
using Npgsql;
using Scaling.Tenancy.Sharding;
using Scaling.Testing;
using Xunit.Abstractions;

namespace Scaling.Tenancy.Tests.Sharding;

[Collection(ServersCollection.Name)]
public sealed class TenantMoveTests(ServersFixture fixture, ITestOutputHelper output)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task A_move_copies_every_row_flips_the_map_on_every_instance_and_deletes_the_source_copy()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var (notes, lines) = await CreateTablesAsync(kit);
        await using var other = await TenancyTestKit.ConnectAsync(kit.Options);
        var tenant = TenancyTestKit.NewTenantId("mover");
        var bystander = TenancyTestKit.NewTenantId("stays");
        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-1");
        await kit.Admin.CreateTenantAsync(bystander, "basic", "shard-1");
        ShardWriteResult<int> lastWrite = default;
        for (var i = 0; i < 30; i++)
        {
            lastWrite = await InsertNoteWithLinesAsync(kit.Router, notes, lines, tenant, $"note {i}", lineCount: 2);
        }

        await InsertNoteWithLinesAsync(kit.Router, notes, lines, bystander, "bystander", lineCount: 1);
        Assert.Equal("shard-1", lastWrite.Token!.Value.ShardId);

        var result = await new TenantMover(kit.Router).MoveAsync(tenant, "shard-2");
        output.WriteLine($"moved {result.RowsCopied} rows in {result.Duration.TotalMilliseconds:0} ms; writes paused {result.WritePause.TotalMilliseconds:0.0} ms; {result.CatchUpRounds} rounds");

        Assert.Equal((tenant, "shard-1", "shard-2", 90L, true), (result.TenantId, result.SourceShardId, result.TargetShardId, result.RowsCopied, result.SourceCleanedUp));
        Assert.Equal(kit.Map.Epoch, result.Epoch);
        Assert.True(kit.Map.TryGetTenant(tenant, out var placement));
        Assert.Equal(("shard-2", TenantState.Active, (string?)null), (placement.ShardId, placement.State, placement.MoveTargetShardId));
        await Eventually.TrueAsync(() => Task.FromResult(other.Map.TryGetTenant(tenant, out var p) && p.ShardId == "shard-2"), TimeSpan.FromSeconds(5), "the other instance sees the flip");

        Assert.Equal(30L, await Count(Servers.Shard2Primary, notes, tenant));
        Assert.Equal(60L, await Count(Servers.Shard2Primary, lines, tenant));
        Assert.Equal(0L, await Count(Servers.Shard1Primary, notes, tenant));
        Assert.Equal(0L, await Count(Servers.Shard1Primary, lines, tenant));
        Assert.Equal(1L, await Count(Servers.Shard1Primary, notes, bystander));
        Assert.Equal(0L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM scaling_tenancy.owned_tenants WHERE tenant_id = '{tenant}'"));
        Assert.Equal("active", await Servers.Shard2Primary.ScalarAsync<string>($"SELECT state FROM scaling_tenancy.owned_tenants WHERE tenant_id = '{tenant}'"));
        Assert.Equal(0L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'scaling_move_%' AND tgrelid IN ('{notes}'::regclass, '{lines}'::regclass)"));
        Assert.Equal(0L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM scaling_tenancy.move_changes WHERE tenant_id = '{tenant}'"));

        // New rows on the target take identity values past the copied ones (the sequence was advanced).
        await InsertNoteWithLinesAsync(kit.Router, notes, lines, tenant, "after the move", lineCount: 1);
        Assert.Equal(31L, await Count(Servers.Shard2Primary, notes, tenant));

        // A token from before the move (shard-1's) still gives a read that sees everything.
        var bodies = await other.Router.ReadAsync(tenant, (c, ct) => TenancyTestKit.ReadBodiesAsync(c, $"SELECT body FROM {notes}", ct), lastWrite.Token);
        Assert.Equal(31, bodies.Count);
        Assert.Contains("note 29", bodies);

        // And back again.
        var back = await new TenantMover(kit.Router).MoveAsync(tenant, "shard-1");
        Assert.Equal(31L + 61L, back.RowsCopied);
        Assert.Equal(31L, await Count(Servers.Shard1Primary, notes, tenant));
        Assert.Equal(0L, await Count(Servers.Shard2Primary, notes, tenant));
    }

    [Fact]
    public async Task Writes_during_a_move_are_neither_lost_nor_duplicated_and_each_either_succeeds_on_the_right_shard_or_gets_a_retryable_error()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var (notes, lines) = await CreateTablesAsync(kit);
        var staleOptions = TenancyTestKit.NewOptions(Servers, o => o.RedisConfiguration = null);
        staleOptions.MetadataSchema = kit.Options.MetadataSchema;
        await using var stale = await TenancyTestKit.ConnectAsync(staleOptions); // learns of the move only from the shards
        var tenant = TenancyTestKit.NewTenantId("busy");
        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-1");
        await stale.Map.RefreshAsync();
        for (var i = 0; i < 200; i++)
        {
            await InsertNoteWithLinesAsync(kit.Router, notes, lines, tenant, $"seed {i}", lineCount: 1);
        }

        var acknowledged = new ConcurrentBag<string>();
        var deleted = new ConcurrentBag<string>();
        var updated = new ConcurrentDictionary<string, string>();
        var retryable = 0;
        var longestWait = TimeSpan.Zero;
        using var stop = new CancellationTokenSource();

        async Task WriteUntilStoppedAsync(ShardRouter router, string name)
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var body = $"{name}-{i}";
                var started = DateTime.UtcNow;
                while (true)
                {
                    try
                    {
                        await InsertNoteWithLinesAsync(router, notes, lines, tenant, body, lineCount: 1);
                        acknowledged.Add(body);
                        break;
                    }
                    catch (TenantUnavailableException e)
                    {
                        Assert.True(e.RetryAfter >= TimeSpan.FromSeconds(1));
                        Interlocked.Increment(ref retryable);
                        await Task.Delay(20);
                    }
                }

                var waited = DateTime.UtcNow - started;
                lock (acknowledged)
                {
                    longestWait = waited > longestWait ? waited : longestWait;
                }
            }
        }

        async Task UpdateAndDeleteUntilStoppedAsync()
        {
            for (var i = 0; !stop.IsCancellationRequested && i < 200; i++)
            {
                var seed = $"seed {i}";
                var changed = $"changed {i}";
                try
                {
                    var sql = i % 2 == 0
                        ? $"UPDATE {notes} SET body = '{changed}' WHERE body = '{seed}'"
                        : $"DELETE FROM {notes} WHERE body = '{seed}'";
                    var result = await kit.Router.WriteAsync(tenant, async (tx, ct) =>
                    {
                        await using var command = new NpgsqlCommand(sql, tx.Connection, tx);
                        return await command.ExecuteNonQueryAsync(ct);
                    });
                    Assert.Equal(1, result.Value);
                    if (i % 2 == 0)
                    {
                        updated[seed] = changed;
                    }
                    else
                    {
                        deleted.Add(seed);
                    }
                }
                catch (TenantUnavailableException)
                {
                    Interlocked.Increment(ref retryable);
                    await Task.Delay(20);
                    i--;
                }
            }
        }

        var writers = new[]
        {
            Task.Run(() => WriteUntilStoppedAsync(kit.Router, "a1")),
            Task.Run(() => WriteUntilStoppedAsync(kit.Router, "a2")),
            Task.Run(() => WriteUntilStoppedAsync(stale.Router, "b1")),
            Task.Run(UpdateAndDeleteUntilStoppedAsync),
        };
        await Task.Delay(300);
        var result = await new TenantMover(kit.Router).MoveAsync(tenant, "shard-2");
        await Task.Delay(300);
        await stop.CancelAsync();
        await Task.WhenAll(writers);

        output.WriteLine($"moved {result.RowsCopied} rows + {result.ChangesApplied} changes in {result.CatchUpRounds} rounds, {result.Duration.TotalMilliseconds:0} ms; " +
            $"writes paused {result.WritePause.TotalMilliseconds:0.0} ms; {retryable} retryable refusals; longest wait of one write {longestWait.TotalMilliseconds:0} ms; {acknowledged.Count} inserts acknowledged");
        Assert.True(result.WritePause < kit.Options.MaxMoveWritePause);
        Assert.True(!acknowledged.IsEmpty && !deleted.IsEmpty && !updated.IsEmpty);

        var onTarget = await Bodies(Servers.Shard2Primary, notes, tenant);
        Assert.Empty(await Bodies(Servers.Shard1Primary, notes, tenant));
        var counts = onTarget.GroupBy(b => b).ToDictionary(g => g.Key, g => g.Count());
        Assert.All(acknowledged, body => Assert.Equal(1, counts.GetValueOrDefault(body)));
        Assert.All(deleted, body => Assert.False(counts.ContainsKey(body), body));
        Assert.All(updated, pair => Assert.True(counts.ContainsKey(pair.Value) && !counts.ContainsKey(pair.Key), pair.Key));
        var expected = acknowledged.Count + 200 - deleted.Count;
        Assert.Equal(expected, onTarget.Count);
        Assert.Equal(expected, await Servers.Shard2Primary.ScalarAsync<long>($"SELECT count(DISTINCT note_id) FROM {lines} WHERE tenant_id = '{tenant}'"));
    }

    [Fact]
    public async Task A_move_to_an_unreachable_shard_is_rolled_back_and_the_tenant_keeps_being_served_from_its_source()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var (notes, lines) = await CreateTablesAsync(kit);
        var tenant = TenancyTestKit.NewTenantId("stuck");
        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-1");
        await InsertNoteWithLinesAsync(kit.Router, notes, lines, tenant, "kept", lineCount: 1);

        await Servers.Shard2Primary.StopAsync();
        try
        {
            var error = await Assert.ThrowsAsync<TenantMoveException>(() => new TenantMover(kit.Router).MoveAsync(tenant, "shard-2"));
            Assert.True(error.RolledBack);
            Assert.Contains("rolled back", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            await Servers.Shard2Primary.RestartAsync();
        }

        Assert.True(kit.Map.TryGetTenant(tenant, out var placement));
        Assert.Equal(("shard-1", TenantState.Active), (placement.ShardId, placement.State));
        await InsertNoteWithLinesAsync(kit.Router, notes, lines, tenant, "after", lineCount: 1);
        Assert.Equal(2L, await Count(Servers.Shard1Primary, notes, tenant));
        Assert.Equal(0L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'scaling_move_%' AND tgrelid = '{notes}'::regclass"));

        // Once the target is back the same move goes through (the leftover 'incoming' row is replaced).
        await Eventually.TrueAsync(
            async () =>
            {
                try
                {
                    await new TenantMover(kit.Router).MoveAsync(tenant, "shard-2");
                    return true;
                }
                catch (TenantMoveException)
                {
                    return false;
                }
            },
            TimeSpan.FromSeconds(20),
            "the move succeeds once the target is back");
        Assert.Equal(2L, await Count(Servers.Shard2Primary, notes, tenant));
    }

    [Theory]
    [InlineData(IsolationLevel.ReadCommitted)] // holds the tenant's advisory lock shared
    [InlineData(IsolationLevel.RepeatableRead)] // holds the ownership row's share lock
    public async Task A_write_in_flight_longer_than_the_pause_budget_makes_the_move_roll_back_instead_of_pausing_writes_longer(IsolationLevel isolation)
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers, o => o.MaxMoveWritePause = TimeSpan.FromMilliseconds(300));
        var (notes, lines) = await CreateTablesAsync(kit);
        var tenant = TenancyTestKit.NewTenantId("slow");
        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-1");
        await InsertNoteWithLinesAsync(kit.Router, notes, lines, tenant, "first", lineCount: 1);

        // A tenant write that holds its transaction open (and with it its shared lock on the tenant). It writes a
        // table the move does not copy, so only the fence waits for it (trigger DDL on the moved tables does not).
        var side = "side_" + Guid.NewGuid().ToString("N")[..10];
        await Servers.Shard1Primary.ExecuteAsync($"CREATE TABLE {side} (tenant_id text NOT NULL, body text); {RowLevelSecurity.EnableSql(side, TenancyTestKit.TenantRole)}");
        var release = new TaskCompletionSource();
        var holding = new TaskCompletionSource();
        var slowWrite = kit.Router.WriteAsync(tenant, async (tx, ct) =>
        {
            await using var command = new NpgsqlCommand($"INSERT INTO {side} (tenant_id, body) VALUES ($1, 'slow')", tx.Connection, tx);
            command.Parameters.Add(new() { Value = tenant.Value });
            var n = await command.ExecuteNonQueryAsync(ct);
            holding.SetResult();
            await release.Task;
            return n;
        },
        isolationLevel: isolation);
        await holding.Task;

        var error = await Assert.ThrowsAsync<TenantMoveException>(() => new TenantMover(kit.Router).MoveAsync(tenant, "shard-2"));
        Assert.True(error.RolledBack);
        Assert.IsType<TimeoutException>(error.InnerException);
        release.SetResult();
        await slowWrite;

        Assert.True(kit.Map.TryGetTenant(tenant, out var placement));
        Assert.Equal(("shard-1", TenantState.Active), (placement.ShardId, placement.State));
        Assert.Equal(["first"], await Bodies(Servers.Shard1Primary, notes, tenant));
        Assert.Equal(["slow"], await Bodies(Servers.Shard1Primary, side, tenant));
        Assert.Equal(0L, await Count(Servers.Shard2Primary, notes, tenant));
        await InsertNoteWithLinesAsync(kit.Router, notes, lines, tenant, "writable again", lineCount: 0);
    }

    [Fact]
    public async Task A_move_without_tenant_tables_or_to_the_same_shard_is_refused_clearly()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        var tenant = TenancyTestKit.NewTenantId();
        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-1");
        var empty = await Assert.ThrowsAsync<InvalidOperationException>(() => new TenantMover(kit.Router).MoveAsync(tenant, "shard-2"));
        Assert.Contains("TenantTables", empty.Message, StringComparison.Ordinal);

        kit.Options.TenantTables.Add("missing_table_xyz");
        await Assert.ThrowsAsync<PostgresException>(() => new TenantMover(kit.Router).MoveAsync(tenant, "shard-2"));
        kit.Options.TenantTables.Clear();
        var (_, _) = await CreateTablesAsync(kit);
        var same = await Assert.ThrowsAsync<InvalidOperationException>(() => new TenantMover(kit.Router).MoveAsync(tenant, "shard-1"));
        Assert.Contains("already on shard 'shard-1'", same.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<TenantNotFoundException>(() => new TenantMover(kit.Router).MoveAsync(TenancyTestKit.NewTenantId(), "shard-2"));
        await Assert.ThrowsAsync<ArgumentException>(() => new TenantMover(kit.Router).MoveAsync(tenant, "Shard 2"));
        Assert.True(kit.Map.TryGetTenant(tenant, out var placement));
        Assert.Equal(TenantState.Active, placement.State);
    }

    private async Task<(string Notes, string Lines)> CreateTablesAsync(TenancyTestKit kit)
    {
        var notes = await TenancyTestKit.CreateNotesTableAsync(Servers);
        var lines = "lines_" + Guid.NewGuid().ToString("N")[..10];
        var sql = $"""
            CREATE TABLE {lines} (
                tenant_id text NOT NULL,
                id bigint GENERATED BY DEFAULT AS IDENTITY,
                note_id bigint NOT NULL,
                PRIMARY KEY (tenant_id, id),
                FOREIGN KEY (tenant_id, note_id) REFERENCES {notes} (tenant_id, id) ON DELETE CASCADE);
            {RowLevelSecurity.EnableSql(lines, TenancyTestKit.TenantRole)}
            """;
        await Servers.Shard1Primary.ExecuteAsync(sql);
        await Servers.Shard2Primary.ExecuteAsync(sql);
        kit.Options.TenantTables.Add(notes);
        kit.Options.TenantTables.Add(lines);
        return (notes, lines);
    }

    private static Task<ShardWriteResult<int>> InsertNoteWithLinesAsync(ShardRouter router, string notes, string lines, TenantId tenant, string body, int lineCount)
        => router.WriteAsync(tenant, async (tx, ct) =>
        {
            await using var command = new NpgsqlCommand(
                $"WITH n AS (INSERT INTO {notes} (tenant_id, body) VALUES ($1, $2) RETURNING id) INSERT INTO {lines} (tenant_id, note_id) SELECT $1, n.id FROM n, generate_series(1, $3)",
                tx.Connection,
                tx);
            command.Parameters.Add(new() { Value = tenant.Value });
            command.Parameters.Add(new() { Value = body });
            command.Parameters.Add(new() { Value = lineCount });
            return await command.ExecuteNonQueryAsync(ct);
        });

    private static Task<long> Count(PostgresServer server, string table, TenantId tenant)
        => server.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE tenant_id = '{tenant}'");

    private static async Task<List<string>> Bodies(PostgresServer server, string table, TenantId tenant)
    {
        await using var connection = new NpgsqlConnection(server.ConnectionString());
        await connection.OpenAsync();
        return await TenancyTestKit.ReadBodiesAsync(connection, $"SELECT body FROM {table} WHERE tenant_id = '{tenant}'", CancellationToken.None);
    }
}
