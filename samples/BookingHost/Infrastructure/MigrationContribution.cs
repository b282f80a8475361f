using Microsoft.Extensions.Options;
using Scaling.Tenancy.Migrations;

namespace BookingHost.Infrastructure;

/// <summary>A part of the host's schema (one area's migrations), registered with <see cref="MigrationContributionExtensions.AddBookingMigrations"/>.</summary>
/// <param name="Area">The area, for logs.</param>
/// <param name="Migrations">The migrations; versions are unique across areas.</param>
/// <param name="TenantTables">The area's tenant tables (with <c>tenant_id</c>), parents first: what a tenant move copies.</param>
public sealed record MigrationContribution(string Area, IReadOnlyList<SqlMigration> Migrations, IReadOnlyList<string> TenantTables);

/// <summary>Registers migration contributions.</summary>
public static class MigrationContributionExtensions
{
    /// <summary>Adds an area's migrations to those the host applies at start-up (metadata database and every shard).</summary>
    public static IServiceCollection AddBookingMigrations(this IServiceCollection services, string area, IReadOnlyList<string> tenantTables, params SqlMigration[] migrations)
        => services.AddSingleton(new MigrationContribution(area, migrations, tenantTables));

    /// <summary>Adds an area's migrations that depend on the host's settings (e.g. the tenant role row-level security grants to).</summary>
    public static IServiceCollection AddBookingMigrations(this IServiceCollection services, string area, IReadOnlyList<string> tenantTables, Func<BookingHostOptions, SqlMigration[]> migrations)
        => services.AddSingleton(sp => new MigrationContribution(area, migrations(sp.GetRequiredService<IOptions<BookingHostOptions>>().Value), tenantTables));
}
