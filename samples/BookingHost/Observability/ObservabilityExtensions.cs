using System.Diagnostics;
using BookingHost.Auth;
using Scaling.Tenancy.Resolution;

namespace BookingHost.Observability;

/// <summary>
/// <c>/metrics</c> (Prometheus text, every <c>Scaling.*</c> and <c>BookingHost.*</c> meter plus HTTP request
/// duration), JSON console logs with scopes, and a per-request scope carrying the tenant, request and user ids.
/// </summary>
public static partial class ObservabilityExtensions
{
    /// <summary>Registers the exporter and JSON console logging (off with <c>BookingHost:JsonLogs=false</c>).</summary>
    public static WebApplicationBuilder AddBookingObservability(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<PrometheusExporter>();
        if (builder.Configuration.GetValue("BookingHost:JsonLogs", true))
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddJsonConsole(o =>
            {
                o.IncludeScopes = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });

            // A slow stdout must never stall requests: under a flood, log lines are dropped rather than waited for.
            builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.QueueFullMode = Microsoft.Extensions.Logging.Console.ConsoleLoggerQueueFullMode.DropWrite);
        }

        return builder;
    }

    /// <summary>
    /// Runs the rest of the pipeline in a logging scope with <c>TenantId</c>, <c>RequestId</c> and <c>UserId</c>, and
    /// writes one structured line per request (method, path, status, duration).
    /// </summary>
    public static IApplicationBuilder UseBookingRequestScope(this IApplicationBuilder app)
    {
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("BookingHost.Requests");
        return app.Use(async (context, next) =>
        {
            var scope = new Dictionary<string, object?>
            {
                ["TenantId"] = context.GetTenant()?.Id.Value,
                ["RequestId"] = context.TraceIdentifier,
                ["UserId"] = context.User.GetUserId()?.ToString(),
            };
            var started = Stopwatch.GetTimestamp();
            using (logger.BeginScope(scope))
            {
                try
                {
                    await next(context);
                }
                finally
                {
                    LogRequest(logger, context.Request.Method, context.Request.Path.Value ?? "/", context.Response.StatusCode, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
            }
        });
    }

    /// <summary>Maps <c>/metrics</c>.</summary>
    public static IEndpointRouteBuilder MapBookingMetrics(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/metrics", (PrometheusExporter exporter) => Results.Text(exporter.Scrape(), "text/plain; version=0.0.4; charset=utf-8"))
            .ExcludeFromDescription();
        return endpoints;
    }

    [LoggerMessage(1, LogLevel.Information, "{Method} {Path} {StatusCode} {DurationMilliseconds:0.0} ms")]
    private static partial void LogRequest(ILogger logger, string method, string path, int statusCode, double durationMilliseconds);
}
