using Npgsql;

namespace Scaling.Data;

/// <summary>
/// Options of a <see cref="ReadWriteDataSource"/>: the servers, the replica health thresholds, the bound on
/// reads that fall back to the primary, and the resilience settings. Validated when the data source is built
/// (and on host start-up when registered with <c>services.AddScalingData(...)</c>); an invalid value fails
/// with a message that names the option.
/// </summary>
public sealed class ScalingDataOptions
{
    /// <summary>The configuration section name conventionally used for these options: <c>Scaling:Data</c>.</summary>
    public const string SectionName = "Scaling:Data";

    /// <summary>
    /// A name for the data source, used in logs, metric tags (<c>data_source</c>) and health check names,
    /// e.g. <c>shard1</c>. Letters, digits, <c>-</c>, <c>_</c> and <c>.</c>, at most 64 characters. Default <c>default</c>.
    /// </summary>
    public string Name { get; set; } = "default";

    /// <summary>The primary's Npgsql connection string. Required. Every write goes here.</summary>
    public string? PrimaryConnectionString { get; set; }

    /// <summary>The replicas' Npgsql connection strings (zero or more). Reads go to a healthy replica.</summary>
    public IList<string> ReplicaConnectionStrings { get; } = new List<string>();

    /// <summary>
    /// A replica whose replay position is more than this many bytes of WAL behind the primary is ejected from
    /// read routing. Default 16 MiB.
    /// </summary>
    public long MaxReplicaLagBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>
    /// A replica whose replay is more than this far behind in time (time since the last replayed transaction
    /// while WAL is still waiting to be replayed) is ejected from read routing. Default 10 seconds.
    /// </summary>
    public TimeSpan MaxReplicaLagTime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Hysteresis: an ejected replica is readmitted only after <see cref="ReadmitAfterHealthyChecks"/>
    /// consecutive checks with both lags at or below this fraction of their maximum. Default 0.5.
    /// </summary>
    public double ReadmitLagRatio { get; set; } = 0.5;

    /// <summary>Consecutive healthy checks needed to readmit an ejected replica. Default 3.</summary>
    public int ReadmitAfterHealthyChecks { get; set; } = 3;

    /// <summary>How often the health monitor checks every replica (role, replay position, lag). Default 1 second.</summary>
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one health probe of one server may take before the server counts as unreachable. Default 2 seconds.</summary>
    public TimeSpan HealthCheckTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The most reads that may run on the primary at once because no replica could serve them (all ejected,
    /// broken or behind the read's consistency token), so that a replica outage cannot flatten the primary.
    /// Only applies when replicas are configured. Default 64.
    /// </summary>
    public int MaxPrimaryFallbackReads { get; set; } = 64;

    /// <summary>
    /// How long a read waits for a primary fallback slot before it fails with
    /// <see cref="ReadCapacityExceededException"/>. <see cref="TimeSpan.Zero"/> fails at once. Default 1 second.
    /// </summary>
    public TimeSpan PrimaryFallbackWaitTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Retries of a transient failure (connection loss, 40001, 40P01) on an idempotent path. Default 3.</summary>
    public int MaxRetryAttempts { get; set; } = 3;

    /// <summary>The base delay of the exponential, jittered retry backoff. Default 50 milliseconds.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// The failure ratio (0–1] of connection-level failures within <see cref="CircuitBreakerSamplingDuration"/>
    /// at which a server's circuit breaker opens. Default 0.5.
    /// </summary>
    public double CircuitBreakerFailureRatio { get; set; } = 0.5;

    /// <summary>The least number of calls in the sampling window before a breaker may open. Default 4.</summary>
    public int CircuitBreakerMinimumThroughput { get; set; } = 4;

    /// <summary>The breaker's sampling window. Default 5 seconds.</summary>
    public TimeSpan CircuitBreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long an opened breaker stays open before it lets a trial call through. Default 5 seconds.</summary>
    public TimeSpan CircuitBreakerBreakDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Command timeout applied to every server's connection string. Default 30 seconds.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Connection (open) timeout applied to every server's connection string, so an unreachable server fails fast.
    /// Default 5 seconds.
    /// </summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Commands that run longer than this are logged as slow (SQL text only, never parameter values).
    /// <see langword="null"/> turns the slow-query log off. Default 500 milliseconds.
    /// </summary>
    public TimeSpan? SlowQueryThreshold { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Whether every command run on this data source's connections is timed — the
    /// <c>scaling.data.command.duration</c> histogram by role and the slow-query log — through Npgsql's tracing
    /// activities. That costs an activity per command (about 1–4 µs and 1.3 KB on the benchmark machine); turn it off
    /// for the lowest overhead. Default <see langword="true"/>.
    /// </summary>
    public bool ObserveCommands { get; set; } = true;

    /// <summary>
    /// An optional hook to configure each server's <see cref="NpgsqlDataSourceBuilder"/> (type mappings, plugins,
    /// logging). Called once per server with the builder and the server's role.
    /// </summary>
    public Action<NpgsqlDataSourceBuilder, ServerRole>? ConfigureDataSource { get; set; }
}
