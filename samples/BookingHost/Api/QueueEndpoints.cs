using System.Text.RegularExpressions;
using BookingHost.Auth;
using BookingHost.Domain;
using BookingHost.Realtime;
using Npgsql;
using Scaling.Locks;
using Scaling.Tenancy;
using Scaling.Tenancy.Resolution;

namespace BookingHost.Api;

/// <summary>
/// Walk-in queues per location: tokens numbered 1, 2, 3… per location and day with no gaps (the counter row and the
/// token are written in one transaction); transitions (call next, start, complete, skip) under a Redlock per queue
/// with a fencing token checked in the write's transaction, so none happens twice; the lock fails closed (503) when
/// Redis has no quorum.
/// </summary>
public static partial class QueueEndpoints
{
    private static readonly TimeSpan LockTtl = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan LockWait = TimeSpan.FromSeconds(3);

    /// <summary>Maps <c>/queues/{location}/...</c>.</summary>
    public static void MapQueues(this IEndpointRouteBuilder api)
    {
        var queues = api.MapGroup("/queues/{location}").RequireTenant();
        queues.MapGet("", SnapshotAsync);
        queues.MapPost("/tokens", IssueAsync).RequireAuthorization(BookingPolicies.SignedIn);
        queues.MapPost("/call-next", (HttpContext http, string location, BookingDeps deps, IDistributedLockProvider locks, CancellationToken ct)
            => TransitionAsync(http, location, null, "called", deps, locks, ct)).RequireAuthorization(BookingPolicies.BusinessStaff);
        queues.MapPost("/tokens/{number:int}/start", (HttpContext http, string location, int number, BookingDeps deps, IDistributedLockProvider locks, CancellationToken ct)
            => TransitionAsync(http, location, number, "serving", deps, locks, ct)).RequireAuthorization(BookingPolicies.BusinessStaff);
        queues.MapPost("/tokens/{number:int}/complete", (HttpContext http, string location, int number, BookingDeps deps, IDistributedLockProvider locks, CancellationToken ct)
            => TransitionAsync(http, location, number, "completed", deps, locks, ct)).RequireAuthorization(BookingPolicies.BusinessStaff);
        queues.MapPost("/tokens/{number:int}/skip", (HttpContext http, string location, int number, BookingDeps deps, IDistributedLockProvider locks, CancellationToken ct)
            => TransitionAsync(http, location, number, "skipped", deps, locks, ct)).RequireAuthorization(BookingPolicies.BusinessStaff);
    }

    private static async Task<IResult> IssueAsync(HttpContext http, string location, IssueTokenRequest body, BookingDeps deps, CancellationToken ct)
    {
        if (BadLocation(location) is { } badLocation)
        {
            return badLocation;
        }

        if (Text.Check(body.CustomerName, "customerName", 100) is { } nameError)
        {
            return Problems.Validation(("customerName", nameError));
        }

        var tenant = http.GetRequiredTenant();
        var day = await TodayAsync(tenant, deps, ct);
        var result = await deps.Router.WriteAsync(tenant.Id, async (tx, c) =>
        {
            await using var command = new NpgsqlCommand(
                """
                WITH n AS (
                    INSERT INTO queue_counters (tenant_id, location, day, last_number) VALUES ($1, $2, $3, 1)
                    ON CONFLICT (tenant_id, location, day) DO UPDATE SET last_number = queue_counters.last_number + 1
                    RETURNING last_number)
                INSERT INTO queue_tokens (tenant_id, location, day, number, customer_name, status)
                SELECT $1, $2, $3, n.last_number, $4, 'waiting' FROM n
                RETURNING number, customer_name, status, issued_at, called_at, started_at, finished_at
                """,
                tx.Connection,
                tx);
            command.Parameters.Add(new() { Value = tenant.Id.Value });
            command.Parameters.Add(new() { Value = location });
            command.Parameters.Add(new() { Value = day });
            command.Parameters.Add(new() { Value = body.CustomerName! });
            await using var reader = await command.ExecuteReaderAsync(c);
            await reader.ReadAsync(c);
            return ReadToken(reader);
        }, cancellationToken: ct);
        await deps.Events.PublishAsync(BookingEvent.Create(tenant.Id.Value, "queue.issued", location, PublicView(result.Value)), ct);
        ConsistencyTokens.Write(http, result.Token);
        return Results.Created($"/api/v1/queues/{location}/tokens/{result.Value.Number}", result.Value);
    }

    private static async Task<IResult> TransitionAsync(HttpContext http, string location, int? number, string to, BookingDeps deps, IDistributedLockProvider locks, CancellationToken ct)
    {
        if (BadLocation(location) is { } badLocation)
        {
            return badLocation;
        }

        var tenant = http.GetRequiredTenant();
        var day = await TodayAsync(tenant, deps, ct);
        var resource = ShardFencingTokenSource.Resource("queue", tenant.Id, $"{location}:{day:yyyy-MM-dd}");
        var attempt = await locks.TryAcquireDetailedAsync(resource, LockTtl, LockWait, ct);
        if (attempt.Handle is not { } handle)
        {
            return attempt.Status == LockAttemptStatus.NoQuorum
                ? Problems.Unavailable(http, "The queue cannot be changed right now: its lock service has no quorum. Nothing was changed; retry shortly.")
                : Problems.Unavailable(http, "The queue is busy; retry shortly.");
        }

        await using (handle)
        {
            var from = to switch
            {
                "called" => new[] { "waiting" },
                "serving" => ["called"],
                "completed" => ["serving"],
                _ => ["waiting", "called"],
            };
            using var lost = CancellationTokenSource.CreateLinkedTokenSource(ct, handle.LostToken);
            var result = await deps.Router.WriteAsync(tenant.Id, async (tx, c) =>
            {
                await FencingGuard.CheckAsync(tx, resource, handle.FencingToken ?? -1, c);
                await using var command = new NpgsqlCommand(
                    $"""
                    UPDATE queue_tokens SET status = $4,
                        called_at = CASE WHEN $4 = 'called' THEN now() ELSE called_at END,
                        started_at = CASE WHEN $4 = 'serving' THEN now() ELSE started_at END,
                        finished_at = CASE WHEN $4 IN ('completed', 'skipped') THEN now() ELSE finished_at END
                    WHERE tenant_id = $1 AND location = $2 AND day = $3 AND number = (
                        SELECT number FROM queue_tokens WHERE tenant_id = $1 AND location = $2 AND day = $3
                        AND status = ANY ($5) AND ($6::int IS NULL OR number = $6) ORDER BY number LIMIT 1)
                    RETURNING number, customer_name, status, issued_at, called_at, started_at, finished_at
                    """,
                    tx.Connection,
                    tx);
                command.Parameters.Add(new() { Value = tenant.Id.Value });
                command.Parameters.Add(new() { Value = location });
                command.Parameters.Add(new() { Value = day });
                command.Parameters.Add(new() { Value = to });
                command.Parameters.Add(new() { Value = from });
                command.Parameters.Add(new() { Value = (object?)number ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer });
                await using var reader = await command.ExecuteReaderAsync(c);
                return await reader.ReadAsync(c) ? ReadToken(reader) : null;
            }, cancellationToken: lost.Token);

            if (result.Value is not { } token)
            {
                return number is null
                    ? Problems.NotFound($"No one is waiting in the queue '{location}'.")
                    : Problems.Conflict($"Token {number} of '{location}' today is not in a state that can become '{to}'.");
            }

            await deps.Events.PublishAsync(BookingEvent.Create(tenant.Id.Value, "queue." + to, location, PublicView(token)), ct);
            ConsistencyTokens.Write(http, result.Token);
            return Results.Ok(token);
        }
    }

    private static async Task<IResult> SnapshotAsync(HttpContext http, string location, BookingDeps deps, CancellationToken ct)
    {
        if (BadLocation(location) is { } badLocation)
        {
            return badLocation;
        }

        var tenant = http.GetRequiredTenant();
        var day = await TodayAsync(tenant, deps, ct);
        var tokens = await deps.Router.ReadAsync(tenant.Id, async (c, ct2) =>
        {
            await using var command = new NpgsqlCommand(
                "SELECT number, customer_name, status, issued_at, called_at, started_at, finished_at FROM queue_tokens WHERE location = $1 AND day = $2 ORDER BY number",
                c);
            command.Parameters.Add(new() { Value = location });
            command.Parameters.Add(new() { Value = day });
            await using var reader = await command.ExecuteReaderAsync(ct2);
            var list = new List<QueueTokenView>();
            while (await reader.ReadAsync(ct2))
            {
                list.Add(ReadToken(reader));
            }

            return list;
        }, ConsistencyTokens.Read(http), ct);

        // The waiting-room view is public: names are for the business's staff only.
        if (!http.User.IsBusinessStaff())
        {
            tokens = tokens.Select(t => t with { CustomerName = null }).ToList();
        }

        var served = tokens.Where(t => t is { Status: "completed", StartedAt: not null, FinishedAt: not null }).ToArray();
        var average = served.Length == 0 ? 15 : (int)Math.Ceiling(served.Average(t => (t.FinishedAt!.Value - t.StartedAt!.Value).TotalMinutes));
        var inService = tokens.Where(t => t.Status is "called" or "serving").ToArray();
        var waiting = tokens.Where(t => t.Status == "waiting")
            .Select((t, i) => new WaitingTokenView(t.Number, t.CustomerName, i + 1, (i + inService.Length) * Math.Max(1, average)))
            .ToArray();
        return Results.Ok(new QueueSnapshot(location, day, inService, waiting, served.Length, average));
    }

    /// <summary>What a queue event shows to everyone watching the business (customers included): no names.</summary>
    private static object PublicView(QueueTokenView token) => new { token.Number, token.Status, token.IssuedAt, token.CalledAt, token.StartedAt, token.FinishedAt };

    private static async Task<DateOnly> TodayAsync(TenantInfo tenant, BookingDeps deps, CancellationToken ct)
    {
        var zone = await deps.Catalog.GetBusinessAsync(tenant, ct) is { } business ? CatalogStore.Zone(business) : TimeZoneInfo.Utc;
        return DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(DateTimeOffset.UtcNow, zone).DateTime);
    }

    private static QueueTokenView ReadToken(NpgsqlDataReader r) => new(
        r.GetInt32(0),
        r.GetString(1),
        r.GetString(2),
        r.GetFieldValue<DateTimeOffset>(3),
        r.IsDBNull(4) ? null : r.GetFieldValue<DateTimeOffset>(4),
        r.IsDBNull(5) ? null : r.GetFieldValue<DateTimeOffset>(5),
        r.IsDBNull(6) ? null : r.GetFieldValue<DateTimeOffset>(6));

    private static IResult? BadLocation(string location)
        => LocationPattern().IsMatch(location) ? null : Problems.Validation(("location", "location is 1 to 40 characters of a-z, 0-9 and '-'."));

    [GeneratedRegex("^[a-z0-9-]{1,40}$")]
    private static partial Regex LocationPattern();
}
