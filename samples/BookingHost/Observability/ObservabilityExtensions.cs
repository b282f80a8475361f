using System.Diagnostics;

namespace BookingHost.Observability;

/// <summary>
/// <c>/metrics</c> (Prometheus text, every <c>Scaling.*</c> and <c>BookingHost.*</c> meter plus HTTP request
/// duration), console logs (JSON with scopes, or readable lines), and a per-request scope carrying the tenant, request and user ids.
/// </summary>
public static partial class ObservabilityExtensions
{
    /// <summary>
    /// Registers the exporter and the console log: JSON lines with scopes (the default, for log collectors), or one
    /// readable line per entry with <c>BookingHost:JsonLogs=false</c> (what <c>eng/run-host.sh</c> uses).
    /// </summary>
    public static WebApplicationBuilder AddBookingObservability(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<PrometheusExporter>();
        builder.Logging.ClearProviders();
        if (builder.Configuration.GetValue("BookingHost:JsonLogs", true))
        {
            builder.Logging.AddJsonConsole(o =>
            {
                o.IncludeScopes = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }
        else
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.IncludeScopes = false;
                o.TimestampFormat = "HH:mm:ss ";
            });
        }

        // A slow stdout must never stall requests: under a flood, log lines are dropped rather than waited for.
        builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.QueueFullMode = Microsoft.Extensions.Logging.Console.ConsoleLoggerQueueFullMode.DropWrite);
        return builder;
    }

    /// <summary>
    /// Runs the rest of the pipeline in a logging scope with <c>TenantId</c>, <c>RequestId</c> and <c>UserId</c>, and
    /// writes one line per request (method, path, status, duration): at Information, or at Debug for health probes and
    /// metric scrapes. Use it first, so requests answered by the exception handler, tenant resolution, authentication
    /// or rate limiting are logged with their final status too.
    /// </summary>
    public static IApplicationBuilder UseBookingRequestLog(this IApplicationBuilder app)
    {
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("BookingHost.Requests");
        return app.Use(async (context, next) =>
        {
            var started = Stopwatch.GetTimestamp();
            var scope = new RequestLogScope(context);
            using (logger.BeginScope(scope))
            {
                try
                {
                    await next(context);
                }
                finally
                {
                    var path = context.Request.Path;
                    var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    if (IsProbe(path))
                    {
                        LogProbe(logger, context.Request.Method, path.Value ?? "/", context.Response.StatusCode, elapsed);
                    }
                    else
                    {
                        LogRequest(logger, context.Request.Method, path.Value ?? "/", context.Response.StatusCode, elapsed);
                    }

                    scope.Freeze();
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

    /// <summary>Health probes and metric scrapes: polled by machines every few seconds, so logged at Debug.</summary>
    private static bool IsProbe(PathString path) =>
        path.StartsWithSegments("/health", StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments("/metrics", StringComparison.OrdinalIgnoreCase);

    [LoggerMessage(1, LogLevel.Information, "{Method} {Path} {StatusCode} {DurationMilliseconds:0.0} ms")]
    private static partial void LogRequest(ILogger logger, string method, string path, int statusCode, double durationMilliseconds);

    [LoggerMessage(2, LogLevel.Debug, "{Method} {Path} {StatusCode} {DurationMilliseconds:0.0} ms")]
    private static partial void LogProbe(ILogger logger, string method, string path, int statusCode, double durationMilliseconds);
}
