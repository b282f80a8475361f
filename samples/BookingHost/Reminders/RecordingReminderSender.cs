using Npgsql;

namespace BookingHost.Reminders;

/// <summary>
/// The default sender: records each delivery in <c>reminder_deliveries</c> in the worker's transaction, so a delivery
/// is recorded exactly once, together with the job's completion (at most one row per job is enforced by a unique key).
/// </summary>
/// <param name="instance">What <c>delivered_by</c> says; by default the machine, process and a per-sender id.</param>
public sealed class RecordingReminderSender(string? instance = null) : IReminderSender
{
    /// <summary>Gets what <c>delivered_by</c> says for this sender's deliveries.</summary>
    public string Instance { get; } = instance ?? $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid().ToString("N")[..8]}";

    /// <inheritdoc />
    public async Task SendAsync(DueReminder reminder, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reminder);
        ArgumentNullException.ThrowIfNull(transaction);
        await using var insert = new NpgsqlCommand(
            """
            INSERT INTO reminder_deliveries (tenant_id, id, job_id, booking_id, kind, attempt, delivered_by)
            VALUES ($1, gen_random_uuid(), $2, $3, $4, $5, $6)
            """,
            transaction.Connection,
            transaction);
        insert.Parameters.Add(new() { Value = reminder.Tenant.Value });
        insert.Parameters.Add(new() { Value = reminder.JobId });
        insert.Parameters.Add(new() { Value = reminder.BookingId });
        insert.Parameters.Add(new() { Value = reminder.Kind });
        insert.Parameters.Add(new() { Value = reminder.Attempt });
        insert.Parameters.Add(new() { Value = Instance });
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }
}
