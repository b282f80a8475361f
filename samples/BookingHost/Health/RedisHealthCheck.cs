using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace BookingHost.Health;

/// <summary>Healthy when the Redis server at the endpoint answers <c>PING</c>.</summary>
public sealed class RedisHealthCheck(string endpoint) : IHealthCheck
{
    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var options = ConfigurationOptions.Parse(endpoint);
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 2000;
        options.SyncTimeout = 2000;
        options.ConnectRetry = 0;
        try
        {
            using var connection = await ConnectionMultiplexer.ConnectAsync(options);
            if (!connection.IsConnected)
            {
                return HealthCheckResult.Unhealthy($"cannot connect to Redis at {endpoint}");
            }

            var latency = await connection.GetDatabase().PingAsync();
            return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:0.0} ms");
        }
        catch (RedisException ex)
        {
            return HealthCheckResult.Unhealthy(ex.Message);
        }
    }
}
