using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace BookingHost.Health;

/// <summary>
/// Healthy when the PostgreSQL server answers <c>SELECT pg_is_in_recovery()</c>; reports whether it is a replica. A
/// pooled connection that the server closed while it sat idle (a restarted server) fails on its first use; that says
/// nothing about the server now, so after any failure the check clears the pool and asks once more on a new connection.
/// </summary>
public sealed class PostgresHealthCheck(string connectionString) : IHealthCheck
{
    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            bool inRecovery;
            try
            {
                inRecovery = await InRecoveryAsync(cancellationToken);
            }
            catch (NpgsqlException) when (!cancellationToken.IsCancellationRequested)
            {
                // A dead pooled connection shows as a broken stream, or as the error the server left on it before it
                // went (57P01, "terminating connection due to unexpected postmaster exit"). A server that is really
                // down or refusing fails the second attempt too.
                await using (var stale = new NpgsqlConnection(connectionString))
                {
                    NpgsqlConnection.ClearPool(stale);
                }

                inRecovery = await InRecoveryAsync(cancellationToken);
            }

            return HealthCheckResult.Healthy(inRecovery ? "replica" : "primary");
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return HealthCheckResult.Unhealthy(ex.Message);
        }
    }

    private async Task<bool> InRecoveryAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT pg_is_in_recovery()", connection);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
