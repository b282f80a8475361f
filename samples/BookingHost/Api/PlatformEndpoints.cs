using System.Globalization;
using BookingHost.Auth;
using BookingHost.Domain;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Api;

/// <summary>Platform administration: create a business (tenant), move it to another shard, cross-shard analytics.</summary>
public static class PlatformEndpoints
{
    /// <summary>Maps <c>/platform/...</c> (platform admins only).</summary>
    public static void MapPlatform(this IEndpointRouteBuilder api)
    {
        var platform = api.MapGroup("/platform").RequireAuthorization(BookingPolicies.PlatformAdmin);

        platform.MapPost("/tenants", async (CreateTenantRequest body, BusinessDirectory directory, ShardRouter router, CancellationToken ct) =>
        {
            var errors = new List<(string, string)>();
            if (!TenantId.TryParse(body.Id, out var id))
            {
                errors.Add(("id", body.Id is null ? "id is required." : $"id is not a valid business id: 1 to {TenantId.MaxLength} characters of a-z, 0-9 and '-', starting and ending with a letter or digit."));
            }

            if (Text.Check(body.Name, "name", 200) is { } nameError)
            {
                errors.Add(("name", nameError));
            }

            if (body.Plan is not ("basic" or "premium"))
            {
                errors.Add(("plan", "plan must be 'basic' or 'premium'."));
            }

            if (body.Shard is { } shard && !router.Map.TryGetShard(shard, out _))
            {
                errors.Add(("shard", $"There is no shard '{CatalogEndpoints.Truncate(shard)}'; known: {string.Join(", ", router.Map.Shards.Select(s => s.Id))}."));
            }

            var zone = body.TimeZone ?? "UTC";
            if (!TimeZoneInfo.TryFindSystemTimeZoneById(zone, out _))
            {
                errors.Add(("timeZone", $"'{CatalogEndpoints.Truncate(zone)}' is not a known IANA time zone."));
            }

            if (errors.Count > 0)
            {
                return Problems.Validation([.. errors]);
            }

            if (router.Map.TryGetTenant(id, out _))
            {
                return Problems.Conflict($"The business '{id}' already exists.");
            }

            var placement = await directory.CreateAsync(id, body.Name!, body.Plan!, body.Shard, zone, ct);
            return Results.Created($"/api/v1/platform/tenants/{id}", new { id = id.Value, shard = placement.ShardId, plan = placement.Plan, epoch = placement.Epoch });
        });

        platform.MapPost("/tenants/{id}/move", async (string id, MoveTenantRequest body, TenantMover mover, ShardRouter router, CancellationToken ct) =>
        {
            if (!TenantId.TryParse(id, out var tenant))
            {
                return Problems.Validation(("id", "id is not a valid business id."));
            }

            if (body.TargetShard is not { } target || !router.Map.TryGetShard(target, out _))
            {
                return Problems.Validation(("targetShard", $"targetShard must be one of: {string.Join(", ", router.Map.Shards.Select(s => s.Id))}."));
            }

            if (!router.Map.TryGetTenant(tenant, out var placement))
            {
                return Problems.NotFound($"There is no business '{tenant}'.");
            }

            if (placement.ShardId == target)
            {
                return Problems.Conflict($"The business '{tenant}' is already on '{target}'.");
            }

            try
            {
                var moved = await mover.MoveAsync(tenant, target, ct);
                return Results.Ok(new
                {
                    id = tenant.Value,
                    from = moved.SourceShardId,
                    to = moved.TargetShardId,
                    rowsCopied = moved.RowsCopied,
                    catchUpRounds = moved.CatchUpRounds,
                    writePauseMilliseconds = Math.Round(moved.WritePause.TotalMilliseconds, 1),
                    durationMilliseconds = Math.Round(moved.Duration.TotalMilliseconds, 1),
                    epoch = moved.Epoch,
                });
            }
            catch (TenantMoveException e) when (e.RolledBack)
            {
                return Results.Problem($"The move failed and was rolled back; '{tenant}' is still served from '{e.SourceShardId}'. {e.InnerException?.Message}", statusCode: StatusCodes.Status502BadGateway, title: "Move failed.");
            }
        });

        platform.MapGet("/analytics/bookings-per-day", async (string? from, string? to, BookingAnalytics analytics, CancellationToken ct) =>
        {
            var today = DateOnly.FromDateTime(DateTime.UtcNow);
            if (!TryDay(from, today.AddDays(-30), out var fromDay) || !TryDay(to, today.AddDays(31), out var toDay) || toDay <= fromDay || toDay.DayNumber - fromDay.DayNumber > 366)
            {
                return Problems.Validation(("from", "from and to are dates (yyyy-MM-dd), from before to, at most 366 days apart."));
            }

            var (rows, failedShards) = await analytics.BookingsPerDayAsync(fromDay, toDay, ct);
            return Results.Ok(new
            {
                rows,
                failedShards = failedShards.Select(f => new { shard = f.ShardId, timedOut = f.TimedOut, error = f.Error.GetType().Name }),
            });
        });
    }

    private static bool TryDay(string? text, DateOnly fallback, out DateOnly day)
    {
        if (text is null)
        {
            day = fallback;
            return true;
        }

        return DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out day);
    }
}
