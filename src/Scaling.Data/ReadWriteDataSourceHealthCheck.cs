using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Scaling.Data;

/// <summary>
/// A health check of a <see cref="ReadWriteDataSource"/>: Unhealthy when the primary cannot be reached or is a
/// standby; Degraded when a replica is ejected or its circuit breaker is open (reads still work, on fewer
/// servers); Healthy otherwise. The data holds each replica's state and lag. Register it with
/// <c>services.AddHealthChecks().AddCheck&lt;ReadWriteDataSourceHealthCheck&gt;("database")</c>.
/// </summary>
/// <param name="dataSource">The data source to check.</param>
public sealed class ReadWriteDataSourceHealthCheck(ReadWriteDataSource dataSource) : IHealthCheck
{
    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var (primaryHealthy, primaryDescription) = await dataSource.ProbePrimaryHealthAsync(cancellationToken).ConfigureAwait(false);
        var data = new Dictionary<string, object>(StringComparer.Ordinal) { ["primary"] = primaryDescription };
        var degraded = new List<string>();
        foreach (var replica in dataSource.GetReplicaStatuses())
        {
            data[$"replica {replica.Name}"] = Describe(replica);
            if (replica.Health == ReplicaHealth.Ejected || replica.CircuitOpen)
            {
                degraded.Add($"{replica.Name} {(replica.CircuitOpen ? "circuit open" : replica.Reason)}");
            }
        }

        if (!primaryHealthy)
        {
            return HealthCheckResult.Unhealthy($"Data source '{dataSource.Name}': {primaryDescription}.", data: data);
        }

        return degraded.Count == 0
            ? HealthCheckResult.Healthy($"Data source '{dataSource.Name}': {primaryDescription}, {dataSource.ReplicaCount} replica(s) taking reads.", data)
            : HealthCheckResult.Degraded($"Data source '{dataSource.Name}': {primaryDescription}; not taking reads: {string.Join("; ", degraded)}.", data: data);
    }

    private static string Describe(ReplicaStatus replica)
        => $"{replica.Health}{(replica.CircuitOpen ? ", circuit open" : string.Empty)}, lag {replica.LagBytes?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"} bytes / {replica.LagTime?.TotalMilliseconds.ToString("0", System.Globalization.CultureInfo.InvariantCulture) ?? "?"} ms{(replica.Reason is null ? string.Empty : ", " + replica.Reason)}";
}
