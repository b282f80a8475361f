using BookingHost.Auth;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Scaling.Tenancy.Resolution;

namespace BookingHost.Realtime;

/// <summary>Registers the live event streams (Server-Sent Events, fanned out across instances over Redis pub/sub).</summary>
public static class RealtimeExtensions
{
    /// <summary>
    /// Registers <see cref="IBookingEvents"/> (<see cref="RedisBookingEvents"/>, on <c>ConnectionStrings:Redis</c>),
    /// this instance's <see cref="RealtimeHub"/> and <see cref="RealtimeOptions"/> (section <c>BookingHost:Realtime</c>, validated on start).
    /// </summary>
    public static IServiceCollection AddBookingRealtime(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RealtimeOptions>().Bind(configuration.GetSection(RealtimeOptions.SectionName))
            .Validate(o => !string.IsNullOrWhiteSpace(o.Channel), "BookingHost:Realtime:Channel is required.")
            .Validate(o => o.ConnectionBufferSize is >= 1 and <= 100_000, "BookingHost:Realtime:ConnectionBufferSize must be between 1 and 100000.")
            .Validate(o => o.HeartbeatInterval >= TimeSpan.FromMilliseconds(10) && o.HeartbeatInterval <= TimeSpan.FromMinutes(10), "BookingHost:Realtime:HeartbeatInterval must be between 10 ms and 10 minutes.")
            .Validate(o => o.PublishTimeout > TimeSpan.Zero && o.PublishTimeout <= TimeSpan.FromSeconds(30), "BookingHost:Realtime:PublishTimeout must be between 0 and 30 s.")
            .Validate(o => o.MaxConnections >= 1, "BookingHost:Realtime:MaxConnections must be at least 1.")
            .Validate(o => o.ClientRetry >= TimeSpan.Zero && o.ClientRetry <= TimeSpan.FromMinutes(5), "BookingHost:Realtime:ClientRetry must be between 0 and 5 minutes.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<BookingHost.Infrastructure.RedisConnections>();
        services.AddSingleton<RealtimeHub>();
        services.AddSingleton<RedisBookingEvents>();
        services.AddSingleton<IBookingEvents>(sp => sp.GetRequiredService<RedisBookingEvents>());
        services.AddHostedService(sp => sp.GetRequiredService<RedisBookingEvents>());
        return services;
    }

    /// <summary>
    /// Maps <c>GET events</c> (under <c>/api/v1</c>): <c>text/event-stream</c> of the request's business, for signed-in
    /// users; optional <c>?location=</c>. Each event is <c>id:</c> (the event id), <c>event:</c> (its type) and one
    /// <c>data:</c> line of JSON (<c>tenant</c>, <c>type</c>, <c>location</c>, <c>data</c>, <c>id</c>, <c>occurredAt</c>);
    /// a <c>:</c> comment line is sent as a heartbeat. See <see cref="EventStreamFilter"/> for who sees what.
    /// </summary>
    public static IEndpointRouteBuilder MapBookingEvents(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/events", EventStreamEndpoint.HandleAsync)
            .RequireAuthorization(BookingPolicies.SignedIn)
            .RequireTenant()
            .WithName("GetEventStream")
            .WithSummary("Live booking and queue events of the business (Server-Sent Events).")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return endpoints;
    }
}
