using System.Text.RegularExpressions;
using BookingHost.Auth;
using BookingHost.Domain;
using BookingHost.Infrastructure;
using BookingHost.Realtime;
using Scaling.Locks;
using Scaling.Tenancy.Resolution;

namespace BookingHost.Api;

/// <summary>
/// Walk-in queues per location: tokens numbered 1, 2, 3… per location and day with no gaps (see <see cref="QueueStore"/>);
/// transitions (call next, start, complete, skip) under a Redlock per queue with a fencing token checked in the write's
/// transaction, so none happens twice; the lock fails closed (503) when Redis has no quorum.
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
        queues.MapPost("/call-next", (HttpContext http, string location, QueueStore queue, IBookingEvents events, IDistributedLockProvider locks, CancellationToken ct)
            => TransitionAsync(http, location, null, "called", queue, events, locks, ct)).RequireAuthorization(BookingPolicies.BusinessStaff);
        queues.MapPost("/tokens/{number:int}/start", (HttpContext http, string location, int number, QueueStore queue, IBookingEvents events, IDistributedLockProvider locks, CancellationToken ct)
            => TransitionAsync(http, location, number, "serving", queue, events, locks, ct)).RequireAuthorization(BookingPolicies.BusinessStaff);
        queues.MapPost("/tokens/{number:int}/complete", (HttpContext http, string location, int number, QueueStore queue, IBookingEvents events, IDistributedLockProvider locks, CancellationToken ct)
            => TransitionAsync(http, location, number, "completed", queue, events, locks, ct)).RequireAuthorization(BookingPolicies.BusinessStaff);
        queues.MapPost("/tokens/{number:int}/skip", (HttpContext http, string location, int number, QueueStore queue, IBookingEvents events, IDistributedLockProvider locks, CancellationToken ct)
            => TransitionAsync(http, location, number, "skipped", queue, events, locks, ct)).RequireAuthorization(BookingPolicies.BusinessStaff);
    }

    private static async Task<IResult> IssueAsync(HttpContext http, string location, IssueTokenRequest body, QueueStore queue, IBookingEvents events, CancellationToken ct)
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
        var day = await queue.TodayAsync(tenant, ct);
        var result = await queue.IssueAsync(tenant.Id, location, day, body.CustomerName!, ct);
        await events.PublishAsync(BookingEvent.Create(tenant.Id.Value, "queue.issued", location, PublicView(result.Value)), ct);
        ConsistencyTokens.Write(http, result.Token);
        return Results.Created($"/api/v1/queues/{location}/tokens/{result.Value.Number}", result.Value);
    }

    private static async Task<IResult> TransitionAsync(
        HttpContext http, string location, int? number, string to, QueueStore queue, IBookingEvents events, IDistributedLockProvider locks, CancellationToken ct)
    {
        if (BadLocation(location) is { } badLocation)
        {
            return badLocation;
        }

        var tenant = http.GetRequiredTenant();
        var day = await queue.TodayAsync(tenant, ct);
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
            using var lost = CancellationTokenSource.CreateLinkedTokenSource(ct, handle.LostToken);
            var result = await queue.TransitionAsync(tenant.Id, location, day, number, to, resource, handle.FencingToken ?? -1, lost.Token);
            if (result.Value is not { } token)
            {
                return number is null
                    ? Problems.NotFound($"No one is waiting in the queue '{location}'.")
                    : Problems.Conflict($"Token {number} of '{location}' today is not in a state that can become '{to}'.");
            }

            await events.PublishAsync(BookingEvent.Create(tenant.Id.Value, "queue." + to, location, PublicView(token)), ct);
            ConsistencyTokens.Write(http, result.Token);
            return Results.Ok(token);
        }
    }

    private static async Task<IResult> SnapshotAsync(HttpContext http, string location, QueueStore queue, CancellationToken ct)
    {
        if (BadLocation(location) is { } badLocation)
        {
            return badLocation;
        }

        var tenant = http.GetRequiredTenant();
        var day = await queue.TodayAsync(tenant, ct);

        // The waiting-room view is public: names are for the business's staff only.
        return Results.Ok(await queue.GetSnapshotAsync(tenant.Id, location, day, withNames: http.User.IsBusinessStaff(), ConsistencyTokens.Read(http), ct));
    }

    /// <summary>What a queue event shows to everyone watching the business (customers included): no names.</summary>
    private static object PublicView(QueueTokenView token) => new { token.Number, token.Status, token.IssuedAt, token.CalledAt, token.StartedAt, token.FinishedAt };

    private static IResult? BadLocation(string location)
        => LocationPattern().IsMatch(location) ? null : Problems.Validation(("location", "location is 1 to 40 characters of a-z, 0-9 and '-'."));

    [GeneratedRegex("^[a-z0-9-]{1,40}$")]
    private static partial Regex LocationPattern();
}
