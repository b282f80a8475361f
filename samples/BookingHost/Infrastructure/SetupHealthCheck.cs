using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace BookingHost.Infrastructure;

/// <summary>Ready once the database set-up (shards, migrations, seed) has finished.</summary>
public sealed class SetupHealthCheck(DatabaseSetupService setup) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => Task.FromResult(setup.Ready.Status switch
        {
            TaskStatus.RanToCompletion => HealthCheckResult.Healthy("Schema and shards ready."),
            TaskStatus.Faulted => HealthCheckResult.Unhealthy("The database set-up failed.", setup.Ready.Exception?.GetBaseException()),
            _ => HealthCheckResult.Unhealthy("The database set-up is still running."),
        });
}
