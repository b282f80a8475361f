using BookingHost.Infrastructure;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace BookingHost.Health;

/// <summary>Registers BookingHost's readiness checks from its connection strings.</summary>
public static class BookingHostHealthChecks
{
    /// <summary>The tag of the checks <c>/health/ready</c> runs.</summary>
    public const string ReadyTag = "ready";

    /// <summary>The PostgreSQL connection strings BookingHost uses (configuration keys under <c>ConnectionStrings</c>).</summary>
    public static readonly string[] PostgresConnectionNames = ["Metadata", "Shard1Primary", "Shard1Replica", "Shard2Primary"];

    /// <summary>
    /// Adds a readiness check for every configured PostgreSQL connection string and for each Redis master
    /// (<c>ConnectionStrings:Redis</c> and <c>ConnectionStrings:RedisLockMasters</c>, comma-separated).
    /// </summary>
    public static IServiceCollection AddBookingHostHealthChecks(this IServiceCollection services, IConfiguration configuration)
    {
        var checks = services.AddHealthChecks();
        foreach (var name in PostgresConnectionNames)
        {
            var connectionString = configuration.GetConnectionString(name);
            if (!string.IsNullOrWhiteSpace(connectionString))
            {
                checks.Add(new HealthCheckRegistration(
                    "postgres-" + name, _ => new PostgresHealthCheck(connectionString), HealthStatus.Unhealthy, [ReadyTag], TimeSpan.FromSeconds(5)));
            }
        }

        var redisEndpoints = (configuration.GetConnectionString("RedisLockMasters") ?? string.Empty)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Prepend(configuration.GetConnectionString("Redis") ?? string.Empty)
            .Where(e => !string.IsNullOrWhiteSpace(e))
            .Distinct(StringComparer.OrdinalIgnoreCase);
        foreach (var endpoint in redisEndpoints)
        {
            checks.Add(new HealthCheckRegistration(
                "redis-" + endpoint, sp => new RedisHealthCheck(sp.GetRequiredService<RedisConnections>(), endpoint), HealthStatus.Unhealthy, [ReadyTag], TimeSpan.FromSeconds(5)));
        }

        return services;
    }
}
