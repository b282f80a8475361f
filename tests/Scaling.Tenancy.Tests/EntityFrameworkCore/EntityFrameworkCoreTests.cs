using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Npgsql;
using Scaling.Data;
using Scaling.Tenancy.Sharding;
using Scaling.Tenancy.Tests.Sharding;
using Scaling.Testing;
using Xunit.Abstractions;

namespace Scaling.Tenancy.Tests.EntityFrameworkCore;

/// <summary>Scaling.EntityFrameworkCore: a DbContext on a tenant's shard, under row-level security, against the real servers.</summary>
[Collection(ServersCollection.Name)]
public sealed class EntityFrameworkCoreTests(ServersFixture fixture, ITestOutputHelper output)
{
    private TestServers Servers => fixture.Servers;

    [Fact]
    public async Task A_tenant_context_sees_only_its_rows_with_no_filter_and_cannot_write_another_tenants_row()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        await EnsureTableAsync();
        var contexts = Factory(pooled: false);
        var mine = TenancyTestKit.NewTenantId("mine");
        var theirs = TenancyTestKit.NewTenantId("theirs");
        await kit.Admin.CreateTenantAsync(mine, "basic", "shard-1");
        await kit.Admin.CreateTenantAsync(theirs, "basic", "shard-1");

        var mineWritten = await kit.Router.WriteAsync(contexts, mine, (db, _) => Task.FromResult(db.Add(new EfNote { TenantId = mine.Value, Body = "mine" })));
        var theirsWritten = await kit.Router.WriteAsync(contexts, theirs, async (db, ct) =>
        {
            db.Notes.AddRange(new EfNote { TenantId = theirs.Value, Body = "theirs 1" }, new EfNote { TenantId = theirs.Value, Body = "theirs 2" });
            return await db.SaveChangesAsync(ct);
        });

        // No tenant filter in the query: row-level security applies it.
        // Each read carries its write's token (a replica that has not replayed it yet is not used).
        var seen = await kit.Router.ReadAsync(contexts, mine, (db, ct) => db.Notes.Select(n => n.Body).ToListAsync(ct), mineWritten.Token);
        Assert.Equal(["mine"], seen);
        var counted = await kit.Router.ReadAsync(contexts, theirs, (db, ct) => db.Notes.CountAsync(ct), theirsWritten.Token);
        Assert.Equal(2, counted);

        // A row of another tenant, written in mine's context: refused by the policy, nothing written.
        var refused = await Assert.ThrowsAsync<DbUpdateException>(() => kit.Router.WriteAsync(
            contexts, mine, (db, _) => Task.FromResult(db.Add(new EfNote { TenantId = theirs.Value, Body = "smuggled" }))));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, Assert.IsType<PostgresException>(refused.InnerException).SqlState);
        Assert.Equal(0L, await Servers.Shard1Primary.ScalarAsync<long>("SELECT count(*) FROM ef_notes WHERE body = 'smuggled'"));

        // Updating or deleting another tenant's row: invisible, so nothing happens.
        var theirRowId = await Servers.Shard1Primary.ScalarAsync<long>($"SELECT min(id) FROM ef_notes WHERE tenant_id = '{theirs}'");
        var changed = await kit.Router.WriteAsync(contexts, mine, (db, ct) => db.Notes.Where(n => n.Id == theirRowId).ExecuteDeleteAsync(ct));
        Assert.Equal(0, changed.Value);
        Assert.Equal(2L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM ef_notes WHERE tenant_id = '{theirs}'"));
    }

    [Fact]
    public async Task A_pooled_context_reused_across_tenants_carries_nothing_from_one_to_the_next()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        await EnsureTableAsync();
        var contexts = Factory(pooled: true); // a pool of one context: every call reuses the same instance
        var tenants = new[] { TenancyTestKit.NewTenantId("pa"), TenancyTestKit.NewTenantId("pb"), TenancyTestKit.NewTenantId("pc") };
        foreach (var tenant in tenants)
        {
            await kit.Admin.CreateTenantAsync(tenant, "basic", tenant == tenants[2] ? "shard-2" : "shard-1");
        }

        var instances = new HashSet<EfNotesContext>(ReferenceEqualityComparer.Instance);
        for (var round = 0; round < 6; round++)
        {
            foreach (var tenant in tenants)
            {
                var written = await kit.Router.WriteAsync(contexts, tenant, (db, _) =>
                {
                    instances.Add(db);
                    Assert.Empty(db.ChangeTracker.Entries()); // nothing tracked for the previous tenant
                    db.Add(new EfNote { TenantId = tenant.Value, Body = $"{tenant} {round}" });
                    return Task.FromResult(0);
                });
                var bodies = await kit.Router.ReadAsync(contexts, tenant, (db, ct) =>
                {
                    instances.Add(db);
                    return db.Notes.Select(n => n.Body).ToListAsync(ct);
                }, written.Token);
                Assert.Equal(round + 1, bodies.Count);
                Assert.All(bodies, b => Assert.StartsWith(tenant.Value + " ", b, StringComparison.Ordinal));
            }
        }

        Assert.Single(instances);
        await using var idle = await contexts.CreateDbContextAsync();
        Assert.Same(instances.Single(), idle);
        Assert.Equal(System.Data.ConnectionState.Closed, idle.Database.GetDbConnection().State);
        Assert.Null(idle.Database.CurrentTransaction);
    }

    [Fact]
    public async Task A_write_then_a_read_with_its_token_sees_it_on_a_lagging_replica_and_without_the_token_it_is_stale()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers, o => o.ConfigureShard = (_, data) =>
        {
            data.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
            data.MaxReplicaLagTime = TimeSpan.FromMinutes(10); // the delayed replica stays admitted: only the token protects the read
            data.MaxRetryAttempts = 1;
        });
        await EnsureTableAsync();
        var contexts = Factory(pooled: true);
        var tenant = TenancyTestKit.NewTenantId("lag");
        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-1");
        var first = await kit.Router.WriteAsync(contexts, tenant, (db, _) => Task.FromResult(db.Add(new EfNote { TenantId = tenant.Value, Body = "first" })));
        await Eventually.TrueAsync(
            async () => first.Token!.Value.Token.IsReachedBy(await Servers.Shard1Replica.GetReplayLsnAsync()),
            TimeSpan.FromSeconds(15),
            "the replica to know the tenant (a replica that does not is skipped for the primary)");
        await kit.Router.GetShard("shard-1").CheckReplicasAsync();

        await Servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.FromSeconds(3));
        int stale = 0, staleWithoutToken = 0;
        try
        {
            for (var i = 0; i < 5; i++)
            {
                var written = await kit.Router.WriteAsync(contexts, tenant, async (db, ct) =>
                {
                    var note = new EfNote { TenantId = tenant.Value, Body = "write " + i };
                    db.Notes.Add(note);
                    await db.SaveChangesAsync(ct);
                    return note.Id;
                });
                var token = Assert.NotNull(written.Token);
                var id = written.Value;
                if (!await kit.Router.ReadAsync(contexts, tenant, (db, ct) => db.Notes.AnyAsync(n => n.Id == id, ct), token))
                {
                    stale++;
                }

                if (!await kit.Router.ReadAsync(contexts, tenant, (db, ct) => db.Notes.AnyAsync(n => n.Id == id, ct)))
                {
                    staleWithoutToken++;
                }
            }
        }
        finally
        {
            await Servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.Zero);
        }

        Assert.Equal(0, stale);
        Assert.True(staleWithoutToken > 0, "without the token the delayed replica must serve stale reads (else this test proves nothing)");
    }

    [Fact]
    public async Task Context_writes_during_a_move_land_once_on_the_new_shard_or_get_the_retryable_error_and_none_reaches_the_old_one_after_the_flip()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers);
        await EnsureTableAsync();
        kit.Options.TenantTables.Add("ef_notes");
        var staleOptions = TenancyTestKit.NewOptions(Servers, o => o.RedisConfiguration = null);
        staleOptions.MetadataSchema = kit.Options.MetadataSchema;
        await using var stale = await TenancyTestKit.ConnectAsync(staleOptions); // learns of the move only from the shards' fence
        var contexts = Factory(pooled: true);
        var tenant = TenancyTestKit.NewTenantId("moving");
        await kit.Admin.CreateTenantAsync(tenant, "basic", "shard-1");
        await stale.Map.RefreshAsync();
        for (var i = 0; i < 50; i++)
        {
            await kit.Router.WriteAsync(contexts, tenant, (db, _) => Task.FromResult(db.Add(new EfNote { TenantId = tenant.Value, Body = "seed " + i })));
        }

        var acknowledged = new ConcurrentBag<string>();
        var afterMove = 0;
        var retryable = 0;
        var moved = false;
        using var stop = new CancellationTokenSource();

        async Task WriteUntilStoppedAsync(ShardRouter router, string name)
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var body = $"{name}-{i}";
                while (true)
                {
                    var startedAfterMove = Volatile.Read(ref moved);
                    try
                    {
                        var result = await router.WriteAsync(contexts, tenant, (db, _) => Task.FromResult(db.Add(new EfNote { TenantId = tenant.Value, Body = body })));
                        acknowledged.Add(body);
                        if (startedAfterMove)
                        {
                            Assert.Equal("shard-2", result.Token!.Value.ShardId); // the token names the shard that holds the write
                            Interlocked.Increment(ref afterMove);
                        }

                        break;
                    }
                    catch (TenantUnavailableException e)
                    {
                        Assert.True(e.RetryAfter >= TimeSpan.FromSeconds(1));
                        Interlocked.Increment(ref retryable);
                        await Task.Delay(20);
                    }
                }
            }
        }

        var writers = new[]
        {
            Task.Run(() => WriteUntilStoppedAsync(kit.Router, "a1")),
            Task.Run(() => WriteUntilStoppedAsync(kit.Router, "a2")),
            Task.Run(() => WriteUntilStoppedAsync(stale.Router, "b1")),
        };
        await Task.Delay(300);
        var move = await new TenantMover(kit.Router).MoveAsync(tenant, "shard-2");
        Volatile.Write(ref moved, true);
        await Task.Delay(300);
        await stop.CancelAsync();
        await Task.WhenAll(writers);

        output.WriteLine($"moved {move.RowsCopied} rows + {move.ChangesApplied} changes, writes paused {move.WritePause.TotalMilliseconds:0.0} ms; " +
            $"{acknowledged.Count} context writes acknowledged ({afterMove} after the move), {retryable} retryable refusals");
        Assert.True(afterMove > 0, "writes went on after the move");
        Assert.Equal(0L, await Servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM ef_notes WHERE tenant_id = '{tenant}'"));
        var onTarget = await kit.Router.ReadFromPrimaryAsync(contexts, tenant, (db, ct) => db.Notes.Select(n => n.Body).ToListAsync(ct));
        var counts = onTarget.GroupBy(b => b).ToDictionary(g => g.Key, g => g.Count());
        Assert.All(acknowledged, body => Assert.Equal(1, counts.GetValueOrDefault(body)));
        Assert.Equal(acknowledged.Count + 50, onTarget.Count);
    }

    [Fact]
    public async Task Without_tenants_a_data_source_writes_through_a_context_and_reads_with_the_token_both_lent_and_as_a_handed_out_DbDataSource()
    {
        await using var kit = await TenancyTestKit.StartAsync(Servers, o => o.ConfigureShard = (_, data) =>
        {
            data.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
            data.MaxReplicaLagTime = TimeSpan.FromMinutes(10); // the delayed replica stays admitted: only the token protects the read
        });
        var data = kit.Router.GetShard("shard-1");
        await Servers.Shard1Primary.ExecuteAsync("CREATE TABLE IF NOT EXISTS ef_plain (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, body text NOT NULL)");
        var created = await data.WriteAsync(Factory<EfPlainContext>(), (db, _) => Task.FromResult(db.Add(new EfPlain { Body = "first" })));
        await Eventually.TrueAsync(
            async () => created.Token!.Value.IsReachedBy(await Servers.Shard1Replica.GetReplayLsnAsync()),
            TimeSpan.FromSeconds(15),
            "the replica has the table");
        await data.CheckReplicasAsync();

        await Servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.FromSeconds(3));
        int stale = 0, staleWithoutToken = 0;
        try
        {
            for (var i = 0; i < 5; i++)
            {
                var body = "write " + Guid.NewGuid();
                var written = await data.WriteAsync(Factory<EfPlainContext>(), async (db, ct) =>
                {
                    db.Add(new EfPlain { Body = body });
                    return await db.SaveChangesAsync(ct);
                });
                Assert.Equal(1, written.Value);
                var token = Assert.NotNull(written.Token);

                // Lent the routed connection …
                stale += await data.ReadAsync(Factory<EfPlainContext>(), (db, ct) => db.Set<EfPlain>().AnyAsync(p => p.Body == body, ct), token) ? 0 : 1;

                // … or built per request on a handed-out DbDataSource.
                await using (var perRequest = new EfPlainContext(new DbContextOptionsBuilder<EfPlainContext>().UseNpgsql(data.ForReads(token)).Options))
                {
                    stale += await perRequest.Set<EfPlain>().AsNoTracking().AnyAsync(p => p.Body == body) ? 0 : 1;
                }

                await using var plain = new EfPlainContext(new DbContextOptionsBuilder<EfPlainContext>().UseNpgsql(data.ForReads()).Options);
                staleWithoutToken += await plain.Set<EfPlain>().AnyAsync(p => p.Body == body) ? 0 : 1;
            }
        }
        finally
        {
            await Servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.Zero);
        }

        Assert.Equal(0, stale);
        Assert.True(staleWithoutToken > 0, "without the token the delayed replica must serve stale reads (else this test proves nothing)");
    }

    private static PooledDbContextFactory<TContext> Factory<TContext>()
        where TContext : DbContext
        => new PooledDbContextFactory<TContext>(new DbContextOptionsBuilder<TContext>().UseNpgsql().Options, poolSize: 1);

    private static IDbContextFactory<EfNotesContext> Factory(bool pooled)
    {
        var options = new DbContextOptionsBuilder<EfNotesContext>().UseNpgsql().Options;
        return pooled ? new PooledDbContextFactory<EfNotesContext>(options, poolSize: 1) : new PlainFactory(options);
    }

    /// <summary>The EF test table, under row-level security on both shards (idempotent: the first test creates it).</summary>
    private async Task EnsureTableAsync()
    {
        var sql = $"""
            CREATE TABLE IF NOT EXISTS ef_notes (
                tenant_id text NOT NULL,
                id bigint GENERATED BY DEFAULT AS IDENTITY,
                body text NOT NULL,
                PRIMARY KEY (tenant_id, id));
            {RowLevelSecurity.EnableSql("ef_notes", TenancyTestKit.TenantRole)}
            """;
        await Servers.Shard1Primary.ExecuteAsync(sql);
        await Servers.Shard2Primary.ExecuteAsync(sql);
        await Eventually.TrueAsync(
            async () => await Servers.Shard1Replica.ScalarAsync<bool>("SELECT to_regclass('ef_notes') IS NOT NULL"),
            TimeSpan.FromSeconds(10),
            "the replica has the table");
    }

    private sealed class PlainFactory(DbContextOptions<EfNotesContext> options) : IDbContextFactory<EfNotesContext>
    {
        public EfNotesContext CreateDbContext() => new(options);
    }
}

public sealed class EfNote
{
    public long Id { get; set; }

    public required string TenantId { get; set; }

    public required string Body { get; set; }
}

public sealed class EfNotesContext(DbContextOptions<EfNotesContext> options) : DbContext(options)
{
    public DbSet<EfNote> Notes => Set<EfNote>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        var note = modelBuilder.Entity<EfNote>().ToTable("ef_notes");
        note.HasKey(n => new { n.TenantId, n.Id });
        note.Property(n => n.Id).HasColumnName("id").UseIdentityByDefaultColumn();
        note.Property(n => n.TenantId).HasColumnName("tenant_id");
        note.Property(n => n.Body).HasColumnName("body");
    }
}

public sealed class EfPlain
{
    public long Id { get; set; }

    public required string Body { get; set; }
}

public sealed class EfPlainContext(DbContextOptions<EfPlainContext> options) : DbContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        var plain = modelBuilder.Entity<EfPlain>().ToTable("ef_plain");
        plain.Property(p => p.Id).HasColumnName("id").UseIdentityByDefaultColumn();
        plain.Property(p => p.Body).HasColumnName("body");
    }
}
