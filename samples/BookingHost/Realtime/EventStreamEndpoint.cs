using System.Globalization;
using BookingHost.Auth;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Scaling.Tenancy.Resolution;

namespace BookingHost.Realtime;

/// <summary><c>GET /api/v1/events</c>: the business's live events as Server-Sent Events.</summary>
internal static class EventStreamEndpoint
{
    public const int MaxLocationLength = 100;

    public static async Task<IResult> HandleAsync(
        HttpContext http,
        string? location,
        RealtimeHub hub,
        IAuthorizationService authorization,
        IHostApplicationLifetime lifetime,
        IOptions<RealtimeOptions> options)
    {
        if (location is not null && (location.Length is 0 or > MaxLocationLength || location.AsSpan().IndexOfAny('\r', '\n') >= 0))
        {
            return Results.Problem(
                statusCode: StatusCodes.Status400BadRequest,
                title: "Invalid location",
                detail: $"'location' must be 1–{MaxLocationLength} characters without line breaks.",
                extensions: new Dictionary<string, object?> { ["code"] = "location-invalid" });
        }

        var tenant = http.GetRequiredTenant().Id.Value;
        var user = http.User;
        var role = user.FindFirst(BookingClaims.Role)?.Value;
        Guid? customer = null;
        if (role == BookingRoles.Customer)
        {
            if (!Guid.TryParse(user.FindFirst(BookingClaims.UserId)?.Value, out var id))
            {
                return Forbidden("The access token has no user id.");
            }

            customer = id;
        }
        else if (role != BookingRoles.PlatformAdmin && !(await authorization.AuthorizeAsync(user, http, BookingPolicies.BusinessStaff)).Succeeded)
        {
            return Forbidden("Only the business's staff, its customers and platform admins can watch its events.");
        }

        var settings = options.Value;
        var connection = new EventStreamConnection(new EventStreamFilter(tenant, customer, location), settings.ConnectionBufferSize);
        if (!hub.TryAdd(connection, settings.MaxConnections))
        {
            connection.Dispose();
            http.Response.Headers.RetryAfter = settings.ClientRetry.TotalSeconds.ToString("0", CultureInfo.InvariantCulture);
            return Results.Problem(
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "Too many open streams",
                detail: "This instance has as many open event streams as it accepts; retry (another instance may take it).",
                extensions: new Dictionary<string, object?> { ["code"] = "streams-exhausted" });
        }

        return new EventStreamResult(hub, connection, lifetime, settings.ClientRetry);
    }

    private static IResult Forbidden(string detail) => Results.Problem(
        statusCode: StatusCodes.Status403Forbidden,
        title: "Forbidden",
        detail: detail,
        extensions: new Dictionary<string, object?> { ["code"] = "events-forbidden" });
}
