using BookingHost.Api;
using BookingHost.Demo;
using BookingHost.Domain;
using BookingHost.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Scaling.Locks;

namespace BookingHost.Composition;

/// <summary>Registers the booking domain and what its API uses.</summary>
public static class BookingDomainServiceCollectionExtensions
{
    /// <summary>
    /// Registers the domain's schema (migrations 1–9 on every shard, row-level security for
    /// <see cref="BookingHostOptions.TenantRole"/>), its stores and queries, the fencing tokens of its locks, the monthly
    /// booking partitions, the endpoints' <see cref="BookingDeps"/> and the demo seed.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddBookingDomain(this IServiceCollection services)
    {
        services.AddBookingMigrations("domain", BookingSchema.TenantTables, host => BookingSchema.Migrations(host.TenantRole));
        services.AddSingleton<BusinessDirectory>();
        // The catalog is on EF Core (Scaling.EntityFrameworkCore lends each pooled context the router's tenant connection).
        services.AddPooledDbContextFactory<CatalogContext>(o => o.UseNpgsql());
        services.AddSingleton<CatalogStore>();
        services.AddSingleton<AvailabilityQuery>();
        services.AddSingleton<BookingStore>();
        services.AddSingleton<QueueStore>();
        services.AddSingleton<BookingAnalytics>();
        services.AddSingleton<BookingDeps>();
        services.AddSingleton<ISeeder, DemoSeeder>();
        services.AddSingleton<ShardFencingTokenSource>();
        services.AddSingleton<IFencingTokenSource>(sp => sp.GetRequiredService<ShardFencingTokenSource>());
        services.AddSingleton<IShardSetupStep, BookingPartitions>();
        services.AddHostedService(sp => (BookingPartitions)sp.GetServices<IShardSetupStep>().First(s => s is BookingPartitions));
        return services;
    }
}
