using BookingHost.Api;
using BookingHost.Auth;
using BookingHost.Composition;
using BookingHost.Health;
using BookingHost.Idempotency;
using BookingHost.Infrastructure;
using BookingHost.Observability;
using BookingHost.Realtime;
using BookingHost.Reminders;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Scaling.Cache;
using Scaling.Locks;
using Scaling.RateLimit;
using Scaling.Tenancy;
using Scaling.Tenancy.Resolution;
using Scaling.Tenancy.Sharding;

var builder = WebApplication.CreateBuilder(args);
var configuration = builder.Configuration;
// BookingHost's own settings, read once: bound, validated and registered as IOptions<BookingHostOptions> for every service.
var settings = builder.Services.AddBookingHostOptions(configuration);

builder.AddBookingObservability();
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
builder.Services.AddProblemDetails();
builder.Services.AddExceptionHandler<BadRequestExceptionHandler>();
builder.Services.AddExceptionHandler<DependencyUnavailableExceptionHandler>(); // a down or silent server: 503 + Retry-After, never a 500
builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true); // bad bodies reach the handler above, with their reason
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow);
ThreadPool.GetMinThreads(out var minWorkers, out var minIo);
if (settings.MinWorkerThreads > minWorkers)
{
    ThreadPool.SetMinThreads(settings.MinWorkerThreads, minIo); // see BookingHostOptions.MinWorkerThreads
}

builder.WebHost.ConfigureKestrel(o => o.Limits.MaxRequestBodySize = settings.MaxRequestBodyBytes);
builder.Services.AddOpenApi();
builder.Services.AddBookingHostHealthChecks(configuration);
builder.Services.AddHealthChecks()
    .AddCheck<SetupHealthCheck>("setup", tags: [BookingHostHealthChecks.ReadyTag])
    .AddCheck<ShardMapHealthCheck>("shard-map", tags: [BookingHostHealthChecks.ReadyTag]);

// Scaling.Tenancy: businesses are tenants, each on one shard; row-level security inside the shard.
builder.Services.AddScalingTenancy(o =>
{
    o.MetadataConnectionString = configuration.GetConnectionString("Metadata");
    o.MetadataSchema = settings.MetadataSchema;
    o.TenantRole = settings.TenantRole;
    o.ConfigureShard = (_, data) => data.ConfigureDataSource = (b, _) =>
    {
        b.ConnectionStringBuilder.MaxPoolSize = settings.ShardMaxPoolSize;
        b.ConnectionStringBuilder.MinPoolSize = settings.ShardMaxPoolSize; // never pruned (see BookingHostOptions.ShardMaxPoolSize)
        b.ConnectionStringBuilder.MaxAutoPrepare = settings.ShardMaxAutoPrepare;
        b.ConnectionStringBuilder.NoResetOnClose = !settings.ShardResetOnClose;
    };
});
builder.Services.TryAddSingleton<RedisConnections>();
builder.Services.AddOptions<ScalingTenancyOptions>().Configure<RedisConnections>((o, redis) => o.ConnectionMultiplexerFactory = () => redis.GetAsync(redis.Primary));
builder.Services.AddOptions<ScalingTenancyOptions>().Configure<IEnumerable<MigrationContribution>>((o, parts) =>
{
    foreach (var table in parts.SelectMany(p => p.TenantTables))
    {
        o.TenantTables.Add(table);
    }
});
builder.Services.AddScalingTenantResolution(o => o.AddSubdomain(settings.HostTemplates).AddHeader().AddClaim());

// Scaling.Cache, Scaling.Locks, Scaling.RateLimit. Every package runs on the instance's one multiplexer per Redis
// endpoint (RedisConnections), which it never closes.
builder.Services.AddScalingCache(_ => { });
builder.Services.AddOptions<ScalingCacheOptions>()
    .Configure<RedisConnections>((o, redis) => o.ConnectionMultiplexerFactory = () => redis.GetAsync(redis.Primary));
builder.Services.AddScalingLocks(_ => { });
builder.Services.AddOptions<ScalingLocksOptions>().Configure<RedisConnections>((o, redis) =>
{
    foreach (var master in redis.LockMasters)
    {
        o.ConnectionMultiplexerFactories.Add(() => redis.GetAsync(master));
    }
});
builder.Services.AddScalingRateLimit(o =>
{
    o.KeyPrefix = settings.RateLimitKeyPrefix;
    o.MaxReservedPermits = settings.RateLimitReservedPermits;
    o.AnonymousTier = new RateLimitTier("anonymous", settings.AnonymousPerMinute, TimeSpan.FromMinutes(1));
    o.AuthenticatedTier = new RateLimitTier("authenticated", settings.AuthenticatedPerMinute, TimeSpan.FromMinutes(1));
    o.Plans["basic"] = new RateLimitPlan(o.AuthenticatedTier)
    {
        TenantQuota = new RateLimitTier("business-basic-daily", settings.BasicBusinessPerDay, TimeSpan.FromDays(1)),
    };
    o.Plans["premium"] = new RateLimitPlan(new RateLimitTier("premium", settings.PremiumPerMinute, TimeSpan.FromMinutes(1)))
    {
        TenantQuota = new RateLimitTier("business-premium-daily", settings.PremiumBusinessPerDay, TimeSpan.FromDays(1)),
    };

    // One tenant identity: the business that tenant resolution produced (its subdomain), with its plan, decides the
    // tier and the daily quota; the token's claims are not read a second time.
    o.TenantResolver = static context => context.GetTenant() is { } tenant ? new RateLimitTenant(tenant.Id.Value, tenant.Plan) : null;
});
builder.Services.AddOptions<ScalingRateLimitOptions>().Configure<RedisConnections>((o, redis) => o.ConnectionMultiplexerFactory = () => redis.GetAsync(redis.Primary));

// BookingHost's areas.
builder.Services.AddBookingAuth(configuration);
builder.Services.AddBookingIdempotency(configuration);
builder.Services.AddBookingRealtime(configuration);
builder.Services.AddBookingReminders(configuration);
builder.Services.AddBookingDomain();
builder.Services.AddSingleton<DatabaseSetupService>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<DatabaseSetupService>());

var app = builder.Build();
app.UseBookingRequestLog();
app.UseBookingHttpMetrics(); // the metrics bridge listens from here on: nothing before the first scrape is lost
app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseRequestBodyLimit(settings.MaxRequestBodyBytes);
app.UseBookingAuthentication(); // only requests with credentials: the bearer scheme reads the Authorization header alone
app.UseScalingTenantResolution();
app.UseAuthorization();
app.UseScalingRateLimit();

// Liveness: the process is up and serving requests; no dependency is consulted.
app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });

// Readiness: every configured PostgreSQL server and Redis master answers, the schema is in place, the map is loaded.
app.MapHealthChecks("/health/ready", new HealthCheckOptions
{
    Predicate = check => check.Tags.Contains(BookingHostHealthChecks.ReadyTag),
    ResponseWriter = HealthReportWriter.WriteJsonAsync,
});
app.MapOpenApi("/openapi/v1.json");
app.MapBookingMetrics();

var api = app.MapGroup("/api/v1");
api.MapBookingAuth();
api.MapBookingApi();
api.MapBookingEvents();

app.Run();

/// <summary>The entry point (public so integration tests can host it).</summary>
public partial class Program;
