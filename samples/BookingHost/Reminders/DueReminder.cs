using Scaling.Tenancy;

namespace BookingHost.Reminders;

/// <summary>A reminder job the worker has claimed and hands to an <see cref="IReminderSender"/>.</summary>
/// <param name="Tenant">The business.</param>
/// <param name="JobId">The job's id (stable across retries: use it to deduplicate on the receiving side).</param>
/// <param name="BookingId">The booking.</param>
/// <param name="Kind">The reminder: <c>24h</c> or <c>1h</c>.</param>
/// <param name="DueAt">When it was due.</param>
/// <param name="Attempt">This attempt's number, from 1.</param>
public sealed record DueReminder(TenantId Tenant, Guid JobId, Guid BookingId, string Kind, DateTimeOffset DueAt, int Attempt);
