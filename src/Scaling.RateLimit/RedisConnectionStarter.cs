using Microsoft.Extensions.Hosting;

namespace Scaling.RateLimit;

/// <summary>Connects the limiter to Redis while the host starts, so that the first requests are counted in Redis, not degraded.</summary>
internal sealed class RedisConnectionStarter(RedisRateLimiter limiter) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => limiter.ConnectAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
