using BookingHost.Domain;
using BookingHost.Infrastructure;
using Scaling.Locks;

namespace BookingHost.Api;

/// <summary>Registers and maps the booking domain.</summary>
public static class DomainEndpoints
{
    /// <summary>Registers the domain's schema and services.</summary>
    public static IServiceCollection AddBookingDomain(this IServiceCollection services, IConfiguration configuration)
    {
        var role = configuration.GetSection(BookingHostOptions.SectionName).Get<BookingHostOptions>()?.TenantRole ?? new BookingHostOptions().TenantRole;
        services.AddBookingMigrations("domain", BookingSchema.TenantTables, BookingSchema.Migrations(role));
        services.AddSingleton<BusinessDirectory>();
        services.AddSingleton<CatalogStore>();
        services.AddSingleton<BookingDeps>();
        services.AddSingleton<ISeeder, DemoSeeder>();
        services.AddSingleton<ShardFencingTokenSource>();
        services.AddSingleton<IFencingTokenSource>(sp => sp.GetRequiredService<ShardFencingTokenSource>());
        services.AddSingleton<IShardSetupStep, BookingPartitions>();
        services.AddHostedService(sp => (BookingPartitions)sp.GetServices<IShardSetupStep>().First(s => s is BookingPartitions));
        return services;
    }

    /// <summary>Maps the domain's endpoints under <c>/api/v1</c>.</summary>
    public static IEndpointRouteBuilder MapBookingDomain(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapCatalog();
        endpoints.MapBookings();
        endpoints.MapQueues();
        endpoints.MapPlatform();
        return endpoints;
    }
}
