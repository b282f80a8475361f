using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Domain;

/// <summary>Cross-shard analytics for the platform (Scaling.Tenancy's fan-out: every shard at once, partial results allowed).</summary>
public sealed class BookingAnalytics(ShardRouter router)
{
    /// <summary>
    /// Bookings (not cancelled) per business and UTC day in [<paramref name="from"/>, <paramref name="to"/>), from every
    /// shard; a shard that fails or takes longer than 10 s is listed in the failures instead.
    /// </summary>
    public async Task<(List<BookingsPerDay> Rows, IReadOnlyList<ShardFailure> FailedShards)> BookingsPerDayAsync(DateOnly from, DateOnly to, CancellationToken cancellationToken)
    {
        var query = router.FanOut(
            """
            SELECT tenant_id, (starts_at AT TIME ZONE 'UTC')::date, count(*) FROM bookings
            WHERE starts_at >= $1 AND starts_at < $2 AND status <> 'cancelled' GROUP BY 1, 2 ORDER BY 1, 2
            """,
            r => (Tenant: r.GetString(0), Day: r.GetFieldValue<DateOnly>(1), Count: r.GetInt64(2)),
            [from.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc), to.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc)],
            new FanOutOptions { Policy = FanOutPolicy.Partial, ShardTimeout = TimeSpan.FromSeconds(10) });
        var rows = new List<BookingsPerDay>();
        await foreach (var row in query.WithCancellation(cancellationToken))
        {
            // Only the shard the map places the business on counts: right after a move, a replica of the old shard
            // may still hold the copy that the move deleted.
            if (TenantId.TryParse(row.Row.Tenant, out var tenant) && router.Map.TryGetTenant(tenant, out var placement) && placement.ShardId == row.ShardId)
            {
                rows.Add(new BookingsPerDay(row.ShardId, row.Row.Tenant, row.Row.Day, row.Row.Count));
            }
        }

        return (rows, query.Failures);
    }
}
