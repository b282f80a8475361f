namespace BookingHost.Observability;

/// <summary>PLACEHOLDER until the observability work lands: no /metrics endpoint and default logging.</summary>
public static class ObservabilityExtensions
{
    /// <summary>Registers the metrics exporter and structured logging.</summary>
    public static WebApplicationBuilder AddBookingObservability(this WebApplicationBuilder builder) => builder;

    /// <summary>Adds the request logging scope (tenant, request and user ids).</summary>
    public static IApplicationBuilder UseBookingRequestScope(this IApplicationBuilder app) => app;

    /// <summary>Maps <c>/metrics</c>.</summary>
    public static IEndpointRouteBuilder MapBookingMetrics(this IEndpointRouteBuilder endpoints) => endpoints;
}
