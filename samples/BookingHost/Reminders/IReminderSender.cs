using Npgsql;

namespace BookingHost.Reminders;

/// <summary>
/// Sends one reminder (e-mail, SMS, push…). Register your own as a singleton to replace the default
/// <see cref="RecordingReminderSender"/>.
/// </summary>
/// <remarks>
/// The job's row stays locked in <paramref name="transaction"/> while the send runs, and the job is marked sent in the
/// same transaction after it returns. Writes made in that transaction (an outbox row, a delivery record) therefore
/// commit exactly once together with the job's completion, and are rolled back when the send throws. A send to an
/// outside system is at least once: if the instance dies after the send but before the commit, another instance sends
/// again — pass <see cref="DueReminder.JobId"/> as an idempotency key where the receiver supports one. The transaction is
/// a cross-tenant one on the shard's primary (row-level security does not apply): scope every statement by
/// <see cref="DueReminder.Tenant"/>.
/// </remarks>
public interface IReminderSender
{
    /// <summary>Sends the reminder; throws when it could not (the job is retried with backoff, then dead-lettered).</summary>
    /// <param name="reminder">The reminder.</param>
    /// <param name="transaction">The worker's transaction holding the job's row lock.</param>
    /// <param name="cancellationToken">Cancelled after <see cref="ReminderOptions.SendTimeout"/> or when the host stops.</param>
    Task SendAsync(DueReminder reminder, NpgsqlTransaction transaction, CancellationToken cancellationToken);
}
