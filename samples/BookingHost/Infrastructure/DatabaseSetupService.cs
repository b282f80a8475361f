using Microsoft.Extensions.Options;
using Scaling.Tenancy.Migrations;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Infrastructure;

/// <summary>
/// Start-up: registers the configured shards in the shard map when it has none, applies every area's migrations to the
/// metadata database and every shard (two instances starting together are serialized by the runner's advisory lock),
/// then runs the seeders. The host does not report ready (<see cref="Ready"/>) before this has finished.
/// </summary>
public sealed partial class DatabaseSetupService(
    ShardRouter router,
    TenantAdministration administration,
    IConfiguration configuration,
    IEnumerable<MigrationContribution> contributions,
    IEnumerable<ISeeder> seeders,
    IEnumerable<IShardSetupStep> steps,
    ShardFencingTokenSource fences,
    IOptions<BookingHostOptions> options,
    ILogger<DatabaseSetupService> logger) : IHostedService
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the schema is in place (and the seed data, when enabled).</summary>
    public Task Ready => _ready.Task;

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await router.Map.StartAsync(cancellationToken);
            if (router.Map.Shards.Count == 0)
            {
                await RegisterConfiguredShardsAsync(cancellationToken);
            }

            foreach (var shard in router.Map.Shards)
            {
                await fences.EnsureSchemaAsync(shard.Id, cancellationToken);
            }

            var migrations = SqlMigrationLoader.FromCode(contributions.SelectMany(c => c.Migrations));
            var runner = new MigrationRunner(Options.Create(new MigrationRunnerOptions { HistoryTable = "booking_schema_history" }));
            var report = await runner.RunAsync(await router.GetMigrationTargetsAsync(cancellationToken), migrations, cancellationToken);
            if (!report.Succeeded)
            {
                throw new InvalidOperationException("BookingHost's migrations failed: " + string.Join("; ", report.Failed.Select(f => $"{f.Name}: {f.Error?.Message}")));
            }

            foreach (var step in steps)
            {
                await step.RunAsync(cancellationToken);
            }

            if (options.Value.Seed)
            {
                foreach (var seeder in seeders)
                {
                    await seeder.SeedAsync(cancellationToken);
                }
            }

            LogReady(logger, router.Map.Shards.Count, migrations.Count);
            _ready.TrySetResult();
        }
        catch (Exception e)
        {
            _ready.TrySetException(e);
            throw;
        }
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task RegisterConfiguredShardsAsync(CancellationToken cancellationToken)
    {
        var shard1 = configuration.GetConnectionString("Shard1Primary")
            ?? throw new InvalidOperationException("ConnectionStrings:Shard1Primary is required (the shard map has no shard yet).");
        var replica = configuration.GetConnectionString("Shard1Replica");
        await administration.AddShardAsync(new ShardInfo("shard-1", shard1, replica is null ? [] : [replica]), cancellationToken);
        if (configuration.GetConnectionString("Shard2Primary") is { } shard2)
        {
            await administration.AddShardAsync(new ShardInfo("shard-2", shard2), cancellationToken);
        }
    }

    [LoggerMessage(1, LogLevel.Information, "BookingHost database ready: {Shards} shards, {Migrations} migrations")]
    private static partial void LogReady(ILogger logger, int shards, int migrations);
}

/// <summary>Work on every shard after the migrations and before the host reports ready (e.g. partitions).</summary>
public interface IShardSetupStep
{
    /// <summary>Runs the step on every shard of the map.</summary>
    Task RunAsync(CancellationToken cancellationToken);
}

/// <summary>Creates demo data at start-up when <see cref="BookingHostOptions.Seed"/> is on (idempotent).</summary>
public interface ISeeder
{
    /// <summary>Creates the data if it does not exist yet.</summary>
    Task SeedAsync(CancellationToken cancellationToken);
}
