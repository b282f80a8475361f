using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace BookingHost.Health;

/// <summary>Writes a health report as JSON: overall status and each check's status and description.</summary>
public static class HealthReportWriter
{
    /// <summary>Writes <paramref name="report"/> to the response.</summary>
    public static Task WriteJsonAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(
                e => e.Key,
                e => new { status = e.Value.Status.ToString(), description = e.Value.Description, durationMs = e.Value.Duration.TotalMilliseconds }),
        };
        return context.Response.WriteAsync(JsonSerializer.Serialize(body), context.RequestAborted);
    }
}
