using Npgsql;
using Scaling.Locks;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Domain;

/// <summary>
/// Walk-in queues per location and local day: tokens numbered 1, 2, 3… with no gaps (the counter row and the token are
/// written in one transaction), and transitions (call next, start, complete, skip) fenced by the queue's lock token,
/// checked in the write's transaction.
/// </summary>
public sealed class QueueStore(ShardRouter router, CatalogStore catalog)
{
    private const string TokenColumns = "number, customer_name, status, issued_at, called_at, started_at, finished_at";

    /// <summary>Today in the business's time zone (UTC while it has no settings).</summary>
    public async Task<DateOnly> TodayAsync(TenantInfo tenant, CancellationToken cancellationToken)
    {
        var zone = await catalog.GetBusinessAsync(tenant, cancellationToken) is { } business ? CatalogStore.Zone(business) : TimeZoneInfo.Utc;
        return DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(DateTimeOffset.UtcNow, zone).DateTime);
    }

    /// <summary>Issues the next token of the queue.</summary>
    /// <returns>The token, with the write's consistency token.</returns>
    public Task<ShardWriteResult<QueueTokenView>> IssueAsync(TenantId tenant, string location, DateOnly day, string customerName, CancellationToken cancellationToken)
        => router.WriteBatchReturningAsync(
            tenant,
            batch => batch.BatchCommands.Add(new NpgsqlBatchCommand(
                $"""
                WITH n AS (
                    INSERT INTO queue_counters (tenant_id, location, day, last_number) VALUES ($1, $2, $3, 1)
                    ON CONFLICT (tenant_id, location, day) DO UPDATE SET last_number = queue_counters.last_number + 1
                    RETURNING last_number)
                INSERT INTO queue_tokens (tenant_id, location, day, number, customer_name, status)
                SELECT $1, $2, $3, n.last_number, $4, 'waiting' FROM n
                RETURNING {TokenColumns}
                """)
            {
                Parameters = { new() { Value = tenant.Value }, new() { Value = location }, new() { Value = day }, new() { Value = customerName } },
            }),
            async (reader, c) =>
            {
                await reader.ReadAsync(c);
                return ReadToken(reader);
            },
            cancellationToken: cancellationToken);

    /// <summary>
    /// Moves a token (the given one, or the first in line when <paramref name="number"/> is <see langword="null"/>) to
    /// <paramref name="to"/> (<c>called</c>, <c>serving</c>, <c>completed</c> or <c>skipped</c>), from the states that may
    /// become it. The write checks <paramref name="fencingToken"/> against the latest token of <paramref name="resource"/>
    /// in its transaction (<see cref="FencingGuard"/>), so a holder whose lock expired changes nothing.
    /// </summary>
    /// <returns>The changed token, or <see langword="null"/> when none is in a state that can become <paramref name="to"/>; with the write's consistency token.</returns>
    /// <exception cref="StaleFencingTokenException">A newer token was issued for <paramref name="resource"/>: nothing was changed.</exception>
    public async Task<ShardWriteResult<QueueTokenView?>> TransitionAsync(
        TenantId tenant, string location, DateOnly day, int? number, string to, string resource, long fencingToken, CancellationToken cancellationToken)
    {
        // The states that may become `to`, as literals: the first waiting is then found in the partial index of waiting
        // tokens (queue_tokens_waiting), and a given number by the primary key, instead of walking the day's tokens.
        var from = to switch
        {
            "called" => "'waiting'",
            "serving" => "'called'",
            "completed" => "'serving'",
            _ => "'waiting', 'called'",
        };
        var which = number is null
            ? $"(SELECT number FROM queue_tokens WHERE tenant_id = $1 AND location = $2 AND day = $3 AND status IN ({from}) ORDER BY number LIMIT 1)"
            : "$5";
        try
        {
            // One round trip: the tenant's entry, the fencing check (it fails the batch if the lock passed to a newer
            // holder), the change and the COMMIT.
            return await router.WriteBatchReturningAsync(
                tenant,
                batch =>
                {
                    batch.BatchCommands.Add(FencingGuard.CreateCheckCommand(resource, fencingToken));
                    var update = new NpgsqlBatchCommand(
                        $"""
                        UPDATE queue_tokens SET status = $4,
                            called_at = CASE WHEN $4 = 'called' THEN now() ELSE called_at END,
                            started_at = CASE WHEN $4 = 'serving' THEN now() ELSE started_at END,
                            finished_at = CASE WHEN $4 IN ('completed', 'skipped') THEN now() ELSE finished_at END
                        WHERE tenant_id = $1 AND location = $2 AND day = $3 AND number = {which} AND status IN ({from})
                        RETURNING {TokenColumns}
                        """)
                    {
                        Parameters = { new() { Value = tenant.Value }, new() { Value = location }, new() { Value = day }, new() { Value = to } },
                    };
                    if (number is { } given)
                    {
                        update.Parameters.Add(new() { Value = given });
                    }

                    batch.BatchCommands.Add(update);
                },
                static async (reader, c) =>
                {
                    await reader.NextResultAsync(c); // past the fencing check's row
                    return await reader.ReadAsync(c) ? ReadToken(reader) : null;
                },
                cancellationToken: cancellationToken);
        }
        catch (PostgresException e) when (FencingGuard.TryGetStaleToken(e, out var stale))
        {
            throw stale;
        }
    }

    /// <summary>
    /// The queue at a glance: who is in service, who waits (with position and estimated wait from the day's average
    /// service time, 15 minutes before anyone was served) and how many were served. Names only when <paramref name="withNames"/>.
    /// </summary>
    public async Task<QueueSnapshot> GetSnapshotAsync(TenantId tenant, string location, DateOnly day, bool withNames, ShardConsistencyToken? consistency, CancellationToken cancellationToken)
    {
        var tokens = await router.ReadBatchAsync(
            tenant,
            batch => batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT {TokenColumns} FROM queue_tokens WHERE location = $1 AND day = $2 ORDER BY number")
            {
                Parameters = { new() { Value = location }, new() { Value = day } },
            }),
            async (reader, ct) =>
            {
                var list = new List<QueueTokenView>();
                while (await reader.ReadAsync(ct))
                {
                    list.Add(ReadToken(reader));
                }

                return list;
            },
            consistency,
            cancellationToken);

        if (!withNames)
        {
            tokens = tokens.Select(t => t with { CustomerName = null }).ToList();
        }

        var served = tokens.Where(t => t is { Status: "completed", StartedAt: not null, FinishedAt: not null }).ToArray();
        var average = served.Length == 0 ? 15 : (int)Math.Ceiling(served.Average(t => (t.FinishedAt!.Value - t.StartedAt!.Value).TotalMinutes));
        var inService = tokens.Where(t => t.Status is "called" or "serving").ToArray();
        var waiting = tokens.Where(t => t.Status == "waiting")
            .Select((t, i) => new WaitingTokenView(t.Number, t.CustomerName, i + 1, (i + inService.Length) * Math.Max(1, average)))
            .ToArray();
        return new QueueSnapshot(location, day, inService, waiting, served.Length, average);
    }

    private static QueueTokenView ReadToken(NpgsqlDataReader r) => new(
        r.GetInt32(0),
        r.GetString(1),
        r.GetString(2),
        r.GetFieldValue<DateTimeOffset>(3),
        r.IsDBNull(4) ? null : r.GetFieldValue<DateTimeOffset>(4),
        r.IsDBNull(5) ? null : r.GetFieldValue<DateTimeOffset>(5),
        r.IsDBNull(6) ? null : r.GetFieldValue<DateTimeOffset>(6));
}
