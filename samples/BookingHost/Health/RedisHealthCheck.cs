using System.Collections.Concurrent;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace BookingHost.Health;

/// <summary>
/// Healthy when the Redis server at the endpoint answers <c>PING</c>. One connection per endpoint is
/// kept for the process (it reconnects by itself), so a check costs one round trip.
/// </summary>
public sealed class RedisHealthCheck(string endpoint) : IHealthCheck
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<ConnectionMultiplexer>>> Connections = new();

    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var connection = await Connections.GetOrAdd(endpoint, e => new Lazy<Task<ConnectionMultiplexer>>(() => ConnectAsync(e))).Value;
            if (!connection.IsConnected)
            {
                return HealthCheckResult.Unhealthy($"not connected to Redis at {endpoint}");
            }

            var latency = await connection.GetDatabase().PingAsync();
            return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:0.0} ms");
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy(ex.Message);
        }
    }

    private static Task<ConnectionMultiplexer> ConnectAsync(string endpoint)
    {
        var options = ConfigurationOptions.Parse(endpoint);
        options.AbortOnConnectFail = false; // connect in the background and keep retrying
        options.ConnectTimeout = 2000;
        options.SyncTimeout = 2000;
        return ConnectionMultiplexer.ConnectAsync(options);
    }
}
