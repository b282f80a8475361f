using BookingHost.Infrastructure;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace BookingHost.Health;

/// <summary>
/// Healthy when the Redis server at the endpoint answers <c>PING</c>, on the instance's one multiplexer for it (see
/// <see cref="RedisConnections"/>), so a check costs one round trip and no connection of its own.
/// </summary>
public sealed class RedisHealthCheck(RedisConnections connections, string endpoint) : IHealthCheck
{
    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var connection = await connections.GetAsync(endpoint).WaitAsync(cancellationToken);
            if (!connection.IsConnected)
            {
                return HealthCheckResult.Unhealthy($"not connected to Redis at {endpoint}");
            }

            var latency = await connection.GetDatabase().PingAsync().WaitAsync(cancellationToken);
            return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:0.0} ms");
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy(ex.Message);
        }
    }
}
