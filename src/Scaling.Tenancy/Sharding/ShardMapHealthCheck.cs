using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Scaling.Tenancy.Sharding;

/// <summary>
/// Health of the shard map: Healthy when it was confirmed against the metadata database within three refresh
/// intervals; Degraded when it is older (the metadata database is unreachable — routing goes on from the cached map);
/// Unhealthy when it was never loaded (no tenant can be routed).
/// </summary>
/// <param name="map">The shard map.</param>
/// <param name="options">The options.</param>
public sealed class ShardMapHealthCheck(ShardMap map, IOptions<ScalingTenancyOptions> options) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object> { ["epoch"] = map.Epoch, ["shards"] = map.Shards.Count, ["push"] = map.IsPushConnected };
        if (map.LastConfirmed is not { } confirmed)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The shard map has not been loaded: the metadata database has not been reached yet.", data: data));
        }

        var age = DateTimeOffset.UtcNow - confirmed;
        data["age_seconds"] = Math.Round(age.TotalSeconds, 1);
        return Task.FromResult(age <= options.Value.RefreshInterval * 3
            ? HealthCheckResult.Healthy($"Shard map at epoch {map.Epoch}.", data)
            : HealthCheckResult.Degraded($"The shard map (epoch {map.Epoch}) was last confirmed {age.TotalSeconds:0} s ago; the metadata database may be unreachable. Routing goes on from the cached map.", data: data));
    }
}
