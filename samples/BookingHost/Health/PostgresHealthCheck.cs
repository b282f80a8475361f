using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace BookingHost.Health;

/// <summary>Healthy when the PostgreSQL server answers <c>SELECT 1</c>; reports whether it is a replica.</summary>
public sealed class PostgresHealthCheck(string connectionString) : IHealthCheck
{
    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand("SELECT pg_is_in_recovery()", connection);
            var inRecovery = (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
            return HealthCheckResult.Healthy(inRecovery ? "replica" : "primary");
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return HealthCheckResult.Unhealthy(ex.Message);
        }
    }
}
