using BookingHost.Health;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;

var builder = WebApplication.CreateBuilder(args);

builder.Services.AddProblemDetails();
builder.Services.AddBookingHostHealthChecks(builder.Configuration);

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();

// Liveness: the process is up and serving requests; no dependency is consulted.
app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });

// Readiness: every configured PostgreSQL server and Redis master answers.
app.MapHealthChecks("/health/ready", new HealthCheckOptions
{
    Predicate = check => check.Tags.Contains(BookingHostHealthChecks.ReadyTag),
    ResponseWriter = HealthReportWriter.WriteJsonAsync,
});

app.Run();

/// <summary>The entry point (public so integration tests can host it).</summary>
public partial class Program;
