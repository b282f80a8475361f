using BookingHost.Domain;

namespace BookingHost.Api;

/// <summary>Changes to a business's settings.</summary>
public sealed record UpdateBusinessRequest(string? Name, string? TimeZone, int? SlotMinutes);

/// <summary>A new service.</summary>
public sealed record CreateServiceRequest(string? Name, int? DurationMinutes, int? PriceCents);

/// <summary>A new staff member or room with its working hours.</summary>
public sealed record CreateResourceRequest(string? Name, string? Kind, IReadOnlyList<WorkingHoursView>? Hours);

/// <summary>A new booking. <see cref="CustomerId"/> is for staff booking on a customer's behalf; customers book for themselves.</summary>
public sealed record CreateBookingRequest(Guid? ServiceId, Guid? ResourceId, DateTimeOffset? StartsAt, string? Notes, Guid? CustomerId);

/// <summary>A new walk-in.</summary>
public sealed record IssueTokenRequest(string? CustomerName);

/// <summary>A new business (platform admin).</summary>
public sealed record CreateTenantRequest(string? Id, string? Name, string? Plan, string? Shard, string? TimeZone);

/// <summary>A tenant move request (platform admin).</summary>
public sealed record MoveTenantRequest(string? TargetShard);
