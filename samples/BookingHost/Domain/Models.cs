namespace BookingHost.Domain;

/// <summary>A business (the tenant) as clients see it.</summary>
public sealed record BusinessView(string Id, string Name, string TimeZone, int SlotMinutes, string Plan);

/// <summary>A bookable service.</summary>
public sealed record ServiceView(Guid Id, string Name, int DurationMinutes, int PriceCents);

/// <summary>Opening hours of a resource on one weekday (0 = Sunday), local to the business's time zone.</summary>
public sealed record WorkingHoursView(int Weekday, TimeOnly Opens, TimeOnly Closes);

/// <summary>A staff member or room.</summary>
public sealed record ResourceView(Guid Id, string Name, string Kind, IReadOnlyList<WorkingHoursView> Hours);

/// <summary>Free start times for a service with a resource on one day.</summary>
public sealed record AvailabilityView(Guid ServiceId, Guid ResourceId, DateOnly Date, string TimeZone, IReadOnlyList<DateTimeOffset> Slots);

/// <summary>A booking.</summary>
public sealed record BookingView(Guid Id, Guid ServiceId, Guid ResourceId, Guid CustomerId, DateTimeOffset StartsAt, DateTimeOffset EndsAt, string Status, string? Notes);

/// <summary>One page of bookings; pass <see cref="NextCursor"/> as <c>cursor</c> for the next page.</summary>
public sealed record BookingPage(IReadOnlyList<BookingView> Items, string? NextCursor);

/// <summary>A walk-in queue token (<see cref="CustomerName"/> is shown to the business's staff only).</summary>
public sealed record QueueTokenView(int Number, string? CustomerName, string Status, DateTimeOffset IssuedAt, DateTimeOffset? CalledAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt);

/// <summary>A waiting token with its position and estimated wait (<see cref="CustomerName"/> for staff only).</summary>
public sealed record WaitingTokenView(int Number, string? CustomerName, int Position, int EstimatedWaitMinutes);

/// <summary>A queue at a glance.</summary>
public sealed record QueueSnapshot(string Location, DateOnly Day, IReadOnlyList<QueueTokenView> InService, IReadOnlyList<WaitingTokenView> Waiting, int Served, int AverageServiceMinutes);

/// <summary>One row of the cross-shard analytics: bookings per day per business.</summary>
public sealed record BookingsPerDay(string Shard, string Tenant, DateOnly Day, long Bookings);
