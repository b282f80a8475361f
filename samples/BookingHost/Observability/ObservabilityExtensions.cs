using System.Diagnostics;
using System.Diagnostics.Metrics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Prometheus;

namespace BookingHost.Observability;

/// <summary>
/// <c>/metrics</c> on prometheus-net (every <c>Scaling.*</c> and <c>BookingHost.*</c> meter, HTTP request metrics,
/// process and .NET runtime metrics), traces and metrics over OTLP when an endpoint is configured, console logs (JSON
/// with scopes, or readable lines), and a per-request scope carrying the tenant, request and user ids.
/// </summary>
public static partial class ObservabilityExtensions
{
    /// <summary>The configuration key (or environment variable) that turns the OTLP export on, as in every OpenTelemetry SDK.</summary>
    public const string OtlpEndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>The trace sources BookingHost exports over OTLP: the five packages', ASP.NET Core's and Npgsql's.</summary>
    public static readonly IReadOnlyList<string> TraceSources = ["Scaling.*", "BookingHost.*", "Npgsql"];

    /// <summary>
    /// Registers the metrics bridge, the OTLP export when <see cref="OtlpEndpointKey"/> is set, and the console log:
    /// JSON lines with scopes (the default, for log collectors), or one readable line per entry with
    /// <c>BookingHost:JsonLogs=false</c> (what <c>eng/run-host.sh</c> uses).
    /// </summary>
    public static WebApplicationBuilder AddBookingObservability(this WebApplicationBuilder builder)
    {
        _ = ProcessInstruments.MemoryLimit; // the meter exists from the start
        builder.Services.AddSingleton(sp => new PrometheusMeterBridge(sp.GetService<IMeterFactory>()));
        AddOtlpExport(builder);
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

    /// <summary>
    /// Starts the metrics bridge (so nothing recorded before the first scrape is lost) and records HTTP request
    /// metrics (count, duration by route and status, in progress: prometheus-net's series, see
    /// <see cref="HttpRequestMetrics"/>). Use it right after <see cref="UseBookingRequestLog"/>, so requests answered
    /// before their endpoint count with their final status.
    /// </summary>
    public static IApplicationBuilder UseBookingHttpMetrics(this IApplicationBuilder app)
    {
        var bridge = app.ApplicationServices.GetRequiredService<PrometheusMeterBridge>();
        var metrics = new HttpRequestMetrics(bridge.Factory);
        return app.Use(metrics.InvokeAsync);
    }

    /// <summary>Maps <c>/metrics</c> (Prometheus text, or OpenMetrics when the scraper asks for it).</summary>
    public static IEndpointRouteBuilder MapBookingMetrics(this IEndpointRouteBuilder endpoints)
    {
        var bridge = endpoints.ServiceProvider.GetRequiredService<PrometheusMeterBridge>();
        endpoints.MapMetrics(s => s.Registry = bridge.Registry, "/metrics").ExcludeFromDescription();
        return endpoints;
    }

    /// <summary>
    /// With <see cref="OtlpEndpointKey"/> set (an absolute http or https address; <c>OTEL_EXPORTER_OTLP_PROTOCOL</c> and
    /// the other standard <c>OTEL_*</c> settings apply), exports traces (the five packages', BookingHost's, ASP.NET
    /// Core's and Npgsql's) and metrics (the <c>Scaling.*</c> and <c>BookingHost.*</c> meters, ASP.NET Core's and
    /// .NET's) over OTLP, beside <c>/metrics</c>. Without it, no trace is recorded: the packages' spans cost nothing.
    /// </summary>
    private static void AddOtlpExport(WebApplicationBuilder builder)
    {
        var endpoint = builder.Configuration[OtlpEndpointKey];
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            return;
        }

        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new InvalidOperationException($"{OtlpEndpointKey}: an absolute http or https address is required (e.g. 'http://localhost:4317'); '{endpoint}' was given.");
        }

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(builder.Configuration["OTEL_SERVICE_NAME"] ?? "BookingHost"))
            .WithTracing(t => t
                .AddSource([.. TraceSources])
                .AddAspNetCoreInstrumentation(o => o.Filter = context => !IsProbe(context.Request.Path))
                .AddOtlpExporter())
            .WithMetrics(m => m
                .AddMeter("Scaling.*", "BookingHost.*", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Runtime")
                .AddOtlpExporter());
    }

    /// <summary>Health probes and metric scrapes: polled by machines every few seconds, so logged at Debug.</summary>
    private static bool IsProbe(PathString path) =>
        path.StartsWithSegments("/health", StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments("/metrics", StringComparison.OrdinalIgnoreCase);

    [LoggerMessage(1, LogLevel.Information, "{Method} {Path} {StatusCode} {DurationMilliseconds:0.0} ms")]
    private static partial void LogRequest(ILogger logger, string method, string path, int statusCode, double durationMilliseconds);

    [LoggerMessage(2, LogLevel.Debug, "{Method} {Path} {StatusCode} {DurationMilliseconds:0.0} ms")]
    private static partial void LogProbe(ILogger logger, string method, string path, int statusCode, double durationMilliseconds);
}
