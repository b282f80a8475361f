using BenchmarkDotNet.Attributes;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Npgsql;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace Scaling.Benchmarks.Tenancy;

/// <summary>
/// What EF Core costs on the router (Scaling.EntityFrameworkCore), against the same work in plain Npgsql on the same
/// router in the same run: a tenant transaction on the shard's primary (ownership check, row-level security entry)
/// that reads a catalog of 10 services, and one that updates one service's price. The EF cases use a pooled
/// <see cref="DbContext"/> factory (<c>AddPooledDbContextFactory</c>'s pool), as BookingHost's catalog does.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkDotNet.Configs.BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class EntityFrameworkCoreBenchmarks
{
    private BenchmarkShards? _shards;
    private ShardRouter? _router;
    private PooledDbContextFactory<BenchCatalogContext>? _contexts;
    private TenantId _tenant;
    private int _price;

    /// <summary>Starts the servers, places a tenant on shard 1 and gives it 10 services under row-level security.</summary>
    [GlobalSetup]
    public async Task SetupAsync()
    {
        _tenant = TenantId.Parse("bench-ef");
        _shards = await BenchmarkShards.StartWithTenantTableAsync(
            "bench_ef", _tenant, "bench_services", "tenant_id text NOT NULL, id int NOT NULL, name text NOT NULL, price_cents int NOT NULL, PRIMARY KEY (tenant_id, id)");
        _router = _shards.Router;
        await _router.WriteAsync(_tenant, async (tx, ct) =>
        {
            await using var insert = new NpgsqlCommand(
                "INSERT INTO bench_services SELECT $1, i, 'Service ' || i, 1000 + i FROM generate_series(1, 10) i", tx.Connection, tx);
            insert.Parameters.Add(new() { Value = _tenant.Value });
            return await insert.ExecuteNonQueryAsync(ct);
        });
        _contexts = new PooledDbContextFactory<BenchCatalogContext>(new DbContextOptionsBuilder<BenchCatalogContext>().UseNpgsql().Options);
        if ((await Npgsql_ReadCatalog()).Count != 10 || (await EfCore_ReadCatalog()).Count != 10 || await Npgsql_UpdatePrice() != 1 || await EfCore_UpdatePrice() != 1)
        {
            throw new InvalidOperationException("The benchmark tenant's catalog was not set up as expected.");
        }
    }

    /// <summary>Disposes the router, the map and the servers.</summary>
    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _shards!.DisposeAsync();
    }

    /// <summary>Baseline: the catalog read in Npgsql, as the tenant on the primary.</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("read")]
    public Task<List<BenchService>> Npgsql_ReadCatalog() => _router!.ReadFromPrimaryAsync(_tenant, static async (connection, ct) =>
    {
        await using var command = new NpgsqlCommand("SELECT id, name, price_cents FROM bench_services ORDER BY name, id", connection);
        await using var reader = await command.ExecuteReaderAsync(ct);
        var list = new List<BenchService>();
        while (await reader.ReadAsync(ct))
        {
            list.Add(new BenchService { Id = reader.GetInt32(0), Name = reader.GetString(1), PriceCents = reader.GetInt32(2) });
        }

        return list;
    });

    /// <summary>The same read with a pooled EF Core context (no tenant filter: row-level security applies it).</summary>
    [Benchmark]
    [BenchmarkCategory("read")]
    public Task<List<BenchService>> EfCore_ReadCatalog() => _router!.ReadFromPrimaryAsync(_contexts!, _tenant, static (db, ct) =>
        db.Services.OrderBy(s => s.Name).ThenBy(s => s.Id).ToListAsync(ct));

    /// <summary>Baseline: one service's price updated in Npgsql, as the tenant, committed (with its consistency token).</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("write")]
    public async Task<int> Npgsql_UpdatePrice()
    {
        var price = ++_price;
        var result = await _router!.WriteAsync(_tenant, async (tx, ct) =>
        {
            await using var update = new NpgsqlCommand("UPDATE bench_services SET price_cents = $1 WHERE id = 1", tx.Connection, tx);
            update.Parameters.Add(new() { Value = price });
            return await update.ExecuteNonQueryAsync(ct);
        });
        return result.Value;
    }

    /// <summary>The same update through a pooled EF Core context (<c>ExecuteUpdateAsync</c>).</summary>
    [Benchmark]
    [BenchmarkCategory("write")]
    public async Task<int> EfCore_UpdatePrice()
    {
        var price = ++_price;
        var result = await _router!.WriteAsync(_contexts!, _tenant, (db, ct) =>
            db.Services.Where(s => s.Id == 1).ExecuteUpdateAsync(set => set.SetProperty(s => s.PriceCents, price), ct));
        return result.Value;
    }

    /// <summary>A service of the benchmark catalog.</summary>
    public sealed class BenchService
    {
        /// <summary>The tenant (mapped; filled by EF).</summary>
        public string TenantId { get; set; } = "";

        /// <summary>The id.</summary>
        public int Id { get; set; }

        /// <summary>The name.</summary>
        public required string Name { get; set; }

        /// <summary>The price.</summary>
        public int PriceCents { get; set; }
    }

    /// <summary>The EF Core model of the benchmark catalog.</summary>
    public sealed class BenchCatalogContext(DbContextOptions<BenchCatalogContext> options) : DbContext(options)
    {
        /// <summary>The services.</summary>
        public DbSet<BenchService> Services => Set<BenchService>();

        /// <inheritdoc />
        protected override void OnModelCreating(ModelBuilder modelBuilder)
        {
            var service = modelBuilder.Entity<BenchService>().ToTable("bench_services");
            service.HasKey(s => new { s.TenantId, s.Id });
            service.Property(s => s.TenantId).HasColumnName("tenant_id");
            service.Property(s => s.Id).HasColumnName("id").ValueGeneratedNever();
            service.Property(s => s.Name).HasColumnName("name");
            service.Property(s => s.PriceCents).HasColumnName("price_cents");
        }
    }
}
