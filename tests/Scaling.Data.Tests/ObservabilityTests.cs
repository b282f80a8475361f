using System.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Npgsql;
using Scaling.Testing;
using Microsoft.Extensions.Options;

namespace Scaling.Data.Tests;

[Collection(ServersCollection.Name)]
public sealed class ObservabilityTests(ServersFixture fixture)
{
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task A_slow_command_is_logged_with_its_sql_but_never_its_parameter_values()
    {
        await using var observed = new Observed(_servers, o => o.SlowQueryThreshold = TimeSpan.FromMilliseconds(100));
        var (logs, data, metrics) = (observed.Logs, observed.Data, observed.Metrics);
        await data.CheckReplicasAsync();

        // A command run directly on a handed-out connection (full Npgsql) is observed too.
        await using (var connection = await data.OpenReadConnectionAsync())
        await using (var command = new NpgsqlCommand("SELECT pg_sleep(0.3), $1::text", connection) { Parameters = { new() { Value = "secret-value-4711" } } })
        {
            await command.ExecuteScalarAsync();
        }

        await using (var connection = await data.OpenReadConnectionAsync())
        await using (var quick = new NpgsqlCommand("SELECT 42", connection))
        {
            await quick.ExecuteScalarAsync();
        }

        // A batch (its text is made only once it is known to be slow) is logged with its commands' SQL.
        await data.WriteBatchAsync(
            batch =>
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT pg_sleep(0.3)"));
                batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT $1::text") { Parameters = { new() { Value = "secret-value-4711" } } });
            },
            _ => 0);

        // Only the two sleeps are slow by design (on a loaded machine another command may pass 100 ms too).
        var slow = logs.Entries.Where(e => e.Message.StartsWith("Slow query", StringComparison.Ordinal) && e.Message.Contains("pg_sleep(0.3)", StringComparison.Ordinal)).ToList();
        Assert.True(slow.Count == 2, string.Join("\n", slow.Select(e => e.Message)));
        var entry = Assert.Single(slow, e => e.Message.Contains("SELECT pg_sleep(0.3), $1::text", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Contains($"replica 127.0.0.1:{_servers.Shard1Replica.Port}", entry.Message, StringComparison.OrdinalIgnoreCase);
        var batch = Assert.Single(slow, e => e.Message.Contains("SELECT pg_sleep(0.3); SELECT $1::text", StringComparison.Ordinal));
        Assert.Contains($"primary 127.0.0.1:{_servers.Shard1Primary.Port}", batch.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains("secret-value-4711", StringComparison.Ordinal));

        var durations = metrics.Measurements.Where(m => m.Instrument == "scaling.data.command.duration").ToList();
        Assert.Contains(durations, m => Equals(m.Tags["role"], "replica") && m.Value >= 0.3);
        Assert.True(metrics.Sum("scaling.data.reads", "role", "replica") >= 2);
    }

    [Fact]
    public async Task A_write_batch_is_timed_once_and_still_traced_by_npgsql_while_an_application_tracer_listens()
    {
        await using var observed = new Observed(_servers, o => o.SlowQueryThreshold = TimeSpan.FromMilliseconds(150));
        var (logs, data, metrics) = (observed.Logs, observed.Data, observed.Metrics);
        var marker = "batch_marker_" + Guid.NewGuid().ToString("N")[..8];

        async Task WriteAsync() => await data.WriteBatchAsync(
            batch => batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT pg_sleep(0.2) AS {marker}")),
            _ => 0);

        // Without an application tracer the package times its own batch (Npgsql does not trace it): one slow-query entry.
        await WriteAsync();
        Assert.Single(logs.Entries, e => e.Message.StartsWith("Slow query", StringComparison.Ordinal) && e.Message.Contains(marker, StringComparison.Ordinal));

        // With one, Npgsql traces the batch for it (with its text) and the batch is still timed and logged once.
        var traced = new List<Activity>();
        using (var tracer = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity => { lock (traced) { traced.Add(activity); } },
        })
        {
            ActivitySource.AddActivityListener(tracer);
            await WriteAsync();
        }

        lock (traced)
        {
            Assert.Single(traced, a => a.GetTagItem("db.query.text") is string text && text.Contains(marker, StringComparison.Ordinal));
        }

        Assert.Equal(2, logs.Entries.Count(e => e.Message.StartsWith("Slow query", StringComparison.Ordinal) && e.Message.Contains(marker, StringComparison.Ordinal)));
        Assert.Equal(2, metrics.Measurements.Count(m => m.Instrument == "scaling.data.command.duration" && Equals(m.Tags["role"], "primary") && m.Value >= 0.2));
    }

    [Fact]
    public async Task With_command_observation_off_no_command_is_timed_or_logged()
    {
        await using var observed = new Observed(_servers, o =>
        {
            o.SlowQueryThreshold = TimeSpan.FromMilliseconds(10);
            o.ObserveCommands = false;
        });
        var (logs, data, metrics) = (observed.Logs, observed.Data, observed.Metrics);
        var slept = await data.ReadAsync(async (connection, ct) =>
        {
            await using var command = new NpgsqlCommand("SELECT pg_sleep(0.1)", connection);
            await command.ExecuteNonQueryAsync(ct);
            return true;
        });
        Assert.True(slept);
        Assert.DoesNotContain(logs.Entries, e => e.Message.StartsWith("Slow query", StringComparison.Ordinal));
        Assert.DoesNotContain(metrics.Measurements, m => m.Instrument == "scaling.data.command.duration");
        Assert.Equal(1, metrics.Sum("scaling.data.reads"));
    }

    [Fact]
    public async Task The_health_check_is_healthy_degraded_with_an_ejected_replica_and_unhealthy_without_a_primary()
    {
        await using var healthy = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));
        await healthy.CheckReplicasAsync();
        var result = await new ReadWriteDataSourceHealthCheck(healthy).CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Healthy, result.Status);

        await using var degraded = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o => o.ReplicaConnectionStrings.Add(DataTestKit.ClosedPortConnectionString()))));
        await degraded.CheckReplicasAsync();
        result = await new ReadWriteDataSourceHealthCheck(degraded).CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Contains("unreachable", result.Description, StringComparison.Ordinal);
        Assert.Equal(3, result.Data.Count);

        await using var down = new ReadWriteDataSource(Options.Create(new ScalingDataOptions { PrimaryConnectionString = DataTestKit.ClosedPortConnectionString(), ConnectTimeout = TimeSpan.FromSeconds(1) }));
        result = await new ReadWriteDataSourceHealthCheck(down).CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("unreachable", result.Description, StringComparison.Ordinal);
    }

    /// <summary>A data source on shard 1 whose logs and metrics a test reads.</summary>
    private sealed class Observed : IAsyncDisposable
    {
        private readonly ILoggerFactory _factory;

        public Observed(Testing.TestServers servers, Action<ScalingDataOptions> configure)
        {
            _factory = LoggerFactory.Create(b => b.AddProvider(Logs).SetMinimumLevel(LogLevel.Trace));
            Data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(servers, configure)), _factory);
            Metrics = new DataMetricsCollector(Data.Name);
        }

        public CapturingLoggerProvider Logs { get; } = new();

        public ReadWriteDataSource Data { get; }

        public DataMetricsCollector Metrics { get; }

        public async ValueTask DisposeAsync()
        {
            Metrics.Dispose();
            await Data.DisposeAsync();
            _factory.Dispose();
            Logs.Dispose();
        }
    }
}
