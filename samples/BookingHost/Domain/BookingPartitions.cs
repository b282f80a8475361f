using BookingHost.Infrastructure;
using Microsoft.Extensions.Options;
using Scaling.Data.Partitions;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Domain;

/// <summary>
/// Keeps the monthly partitions of <c>bookings</c> on every shard (Scaling.Data's <see cref="PartitionMaintainer"/>):
/// as a set-up step before the host reports ready, then every 6 hours (and so for shards added later).
/// </summary>
public sealed partial class BookingPartitions(ShardRouter router, IOptions<BookingHostOptions> options, ILogger<BookingPartitions> logger) : BackgroundService, IShardSetupStep
{
    /// <inheritdoc />
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var table = new PartitionedTable("bookings") { MonthsAhead = options.Value.BookingMonthsAhead + 1 };
        foreach (var shard in router.Map.Shards)
        {
            await new PartitionMaintainer(router.GetShard(shard.Id).Primary).MaintainAsync(table, cancellationToken);
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(6));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await timer.WaitForNextTickAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await RunAsync(stoppingToken);
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
            {
                LogFailed(logger, e);
            }
        }
    }

    [LoggerMessage(1, LogLevel.Warning, "Booking partition maintenance failed; retrying at the next interval")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
