using Npgsql;
using Scaling.Tenancy;

namespace BookingHost.Reminders;

/// <summary>
/// The reminder job queue, written in the booking's own transaction. PLACEHOLDER until the reminders work lands:
/// nothing is enqueued.
/// </summary>
public static class ReminderJobs
{
    /// <summary>Enqueues the 24 h and 1 h reminders of a booking, in the booking's transaction.</summary>
    public static Task EnqueueForBookingAsync(NpgsqlTransaction transaction, TenantId tenant, Guid bookingId, DateTimeOffset startsAt, CancellationToken cancellationToken)
        => Task.CompletedTask;

    /// <summary>Cancels a booking's pending reminders, in the cancellation's transaction.</summary>
    public static Task CancelForBookingAsync(NpgsqlTransaction transaction, TenantId tenant, Guid bookingId, CancellationToken cancellationToken)
        => Task.CompletedTask;
}

/// <summary>Registers the reminder worker.</summary>
public static class ReminderExtensions
{
    /// <summary>Registers the reminder tables, worker and sender.</summary>
    public static IServiceCollection AddBookingReminders(this IServiceCollection services, IConfiguration configuration) => services;
}
