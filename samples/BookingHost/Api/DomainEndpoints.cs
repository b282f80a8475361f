using BookingHost.Domain;
using BookingHost.Infrastructure;
using Microsoft.Extensions.Options;

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
        return services;
    }

    /// <summary>Maps the domain's endpoints under <c>/api/v1</c>.</summary>
    public static IEndpointRouteBuilder MapBookingDomain(this IEndpointRouteBuilder endpoints) => endpoints;
}
