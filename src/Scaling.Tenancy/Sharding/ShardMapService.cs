using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Scaling.Tenancy.Sharding;

/// <summary>
/// The hosted service registered by <c>services.AddScalingTenancy(...)</c>: starts the <see cref="ShardMap"/> (schema,
/// first load, Redis push, periodic refresh) in the background, retrying with backoff while the metadata database is
/// unreachable — the host starts either way, and requests for tenants fail with a retryable 503 until the map loads.
/// </summary>
/// <param name="map">The shard map.</param>
/// <param name="options">The options.</param>
/// <param name="logger">The logger.</param>
public sealed class ShardMapService(ShardMap map, IOptions<ScalingTenancyOptions> options, ILogger<ShardMapService> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await map.StartAsync(stoppingToken).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException && !stoppingToken.IsCancellationRequested)
            {
                TenancyLog.MapRefreshFailed(logger, "startup", map.Epoch, e);
            }

            await Task.Delay(delay, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.Value.RefreshInterval.Ticks));
        }
    }
}
