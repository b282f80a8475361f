using Microsoft.EntityFrameworkCore;

namespace BookingHost.Domain;

/// <summary>
/// The catalog (business settings, services, resources and their working hours) as an EF Core model, over the tables the
/// SQL migrations create on every shard (<see cref="BookingSchema"/>). The context has no connection of its own:
/// Scaling.EntityFrameworkCore lends it the router's connection, entered as the tenant, on every call (bookings and queues
/// stay on Npgsql: both styles side by side).
/// </summary>
public sealed class CatalogContext(DbContextOptions<CatalogContext> options) : DbContext(options)
{
    /// <summary>The business row (one per tenant on its shard).</summary>
    public DbSet<BusinessRow> Businesses => Set<BusinessRow>();

    /// <summary>Bookable services.</summary>
    public DbSet<ServiceRow> Services => Set<ServiceRow>();

    /// <summary>Staff members and rooms.</summary>
    public DbSet<ResourceRow> Resources => Set<ResourceRow>();

    /// <inheritdoc />
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        var business = modelBuilder.Entity<BusinessRow>().ToTable("businesses");
        business.HasKey(b => b.TenantId);
        business.Property(b => b.TenantId).HasColumnName("tenant_id");
        business.Property(b => b.Name).HasColumnName("name");
        business.Property(b => b.TimeZone).HasColumnName("time_zone");
        business.Property(b => b.SlotMinutes).HasColumnName("slot_minutes");

        var service = modelBuilder.Entity<ServiceRow>().ToTable("services");
        service.HasKey(s => new { s.TenantId, s.Id });
        service.Property(s => s.TenantId).HasColumnName("tenant_id");
        service.Property(s => s.Id).HasColumnName("id").ValueGeneratedNever();
        service.Property(s => s.Name).HasColumnName("name");
        service.Property(s => s.DurationMinutes).HasColumnName("duration_minutes");
        service.Property(s => s.PriceCents).HasColumnName("price_cents");
        service.Property(s => s.Active).HasColumnName("active");

        var resource = modelBuilder.Entity<ResourceRow>().ToTable("resources");
        resource.HasKey(r => new { r.TenantId, r.Id });
        resource.Property(r => r.TenantId).HasColumnName("tenant_id");
        resource.Property(r => r.Id).HasColumnName("id").ValueGeneratedNever();
        resource.Property(r => r.Name).HasColumnName("name");
        resource.Property(r => r.Kind).HasColumnName("kind");
        resource.Property(r => r.Active).HasColumnName("active");
        resource.HasMany(r => r.Hours).WithOne().HasForeignKey(h => new { h.TenantId, h.ResourceId });

        var hours = modelBuilder.Entity<WorkingHoursRow>().ToTable("working_hours");
        hours.HasKey(h => new { h.TenantId, h.ResourceId, h.Weekday });
        hours.Property(h => h.TenantId).HasColumnName("tenant_id");
        hours.Property(h => h.ResourceId).HasColumnName("resource_id");
        hours.Property(h => h.Weekday).HasColumnName("weekday");
        hours.Property(h => h.Opens).HasColumnName("opens");
        hours.Property(h => h.Closes).HasColumnName("closes");
    }
}

/// <summary>A row of <c>businesses</c>.</summary>
public sealed class BusinessRow
{
    /// <summary>The tenant (the business).</summary>
    public required string TenantId { get; set; }

    /// <summary>The business's name.</summary>
    public required string Name { get; set; }

    /// <summary>Its IANA time zone.</summary>
    public required string TimeZone { get; set; }

    /// <summary>The length of a booking slot.</summary>
    public int SlotMinutes { get; set; }
}

/// <summary>A row of <c>services</c>.</summary>
public sealed class ServiceRow
{
    /// <summary>The tenant.</summary>
    public required string TenantId { get; set; }

    /// <summary>The service's id.</summary>
    public Guid Id { get; set; }

    /// <summary>Its name.</summary>
    public required string Name { get; set; }

    /// <summary>How long it takes.</summary>
    public int DurationMinutes { get; set; }

    /// <summary>Its price.</summary>
    public int PriceCents { get; set; }

    /// <summary>Whether it can be booked.</summary>
    public bool Active { get; set; } = true;
}

/// <summary>A row of <c>resources</c>, with its working hours.</summary>
public sealed class ResourceRow
{
    /// <summary>The tenant.</summary>
    public required string TenantId { get; set; }

    /// <summary>The resource's id.</summary>
    public Guid Id { get; set; }

    /// <summary>Its name.</summary>
    public required string Name { get; set; }

    /// <summary><c>staff</c> or <c>room</c>.</summary>
    public required string Kind { get; set; }

    /// <summary>Whether it can be booked.</summary>
    public bool Active { get; set; } = true;

    /// <summary>Its opening hours, one row per weekday.</summary>
    public List<WorkingHoursRow> Hours { get; set; } = [];
}

/// <summary>A row of <c>working_hours</c>.</summary>
public sealed class WorkingHoursRow
{
    /// <summary>The tenant.</summary>
    public required string TenantId { get; set; }

    /// <summary>The resource.</summary>
    public Guid ResourceId { get; set; }

    /// <summary>0 = Sunday.</summary>
    public short Weekday { get; set; }

    /// <summary>Opening time, local to the business.</summary>
    public TimeOnly Opens { get; set; }

    /// <summary>Closing time, local to the business.</summary>
    public TimeOnly Closes { get; set; }
}
