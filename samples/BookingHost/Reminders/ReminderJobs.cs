using Npgsql;
using Scaling.Tenancy;

namespace BookingHost.Reminders;

/// <summary>
/// The reminder job queue, written in the booking's own transaction (a tenant transaction of the shard router: the
/// jobs commit or roll back with the booking).
/// </summary>
/// <remarks>
/// A reminder whose due time has already passed when the booking is made (a booking less than 24 h or 1 h ahead) is not
/// enqueued: the booking confirmation is the customer's reminder then, and a "24 hours to go" message 3 hours before
/// would be wrong. The offsets are <see cref="ReminderOptions.DayBefore"/> and <see cref="ReminderOptions.HourBefore"/>,
/// taken from the host's options when it starts (these methods are static, called from the booking code's transaction
/// without the container; one schedule per process).
/// </remarks>
public static class ReminderJobs
{
    private static ReminderSchedule s_schedule = new(TimeSpan.FromHours(24), TimeSpan.FromHours(1));

    /// <summary>Gets the offsets the enqueue methods use.</summary>
    public static ReminderSchedule Schedule
    {
        get => Volatile.Read(ref s_schedule);
        internal set => Volatile.Write(ref s_schedule, value);
    }

    /// <summary>
    /// Enqueues the 24 h and 1 h reminders of a booking, in the booking's transaction (one statement). Reminders already
    /// due are skipped. A booking has one job of each kind: enqueueing it again while its jobs are pending adds nothing
    /// (a retried request is harmless); once they are finished (cancelled, sent, dead), it schedules them again, with new
    /// job ids, for the given start (a rescheduled booking: cancel, then enqueue with the new time).
    /// </summary>
    /// <param name="transaction">The booking's tenant transaction.</param>
    /// <param name="tenant">The business (the transaction's tenant).</param>
    /// <param name="bookingId">The booking.</param>
    /// <param name="startsAt">When the booking starts.</param>
    /// <param name="cancellationToken">Cancels the statement.</param>
    /// <returns>A task that completes when the jobs are written (not committed).</returns>
    public static async Task EnqueueForBookingAsync(NpgsqlTransaction transaction, TenantId tenant, Guid bookingId, DateTimeOffset startsAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        await using var batch = new NpgsqlBatch(transaction.Connection, transaction);
        batch.BatchCommands.Add(Enqueue(tenant, bookingId, startsAt));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// A data-modifying common table expression, <c>reminders AS (INSERT INTO reminder_jobs …)</c>, that enqueues the
    /// reminders of each new booking <paramref name="source"/> returns (its <c>booking_id</c> and <c>starts_at</c>
    /// columns): for the booking's own insert statement, so that the slot, the booking and its reminders are one
    /// statement. A booking <paramref name="source"/> does not return (a slot insert that yielded to an overlapping
    /// booking) gets no reminder. Reminders already due are skipped. The bookings must be new: their jobs are inserted,
    /// not merged with earlier ones (<see cref="EnqueueForBookingAsync"/> is the statement for a booking that may have
    /// jobs already). The text depends on the parameters' numbers alone, so a statement can be written once; its
    /// command gets the schedule's two offsets from <see cref="AddScheduleParameters"/>.
    /// </summary>
    /// <param name="source">The name of an earlier expression of the statement, with the columns <c>booking_id</c> and <c>starts_at</c>.</param>
    /// <param name="tenantParameter">The number of the statement's parameter that holds the business (the transaction's tenant).</param>
    /// <param name="scheduleParameter">The number of the first of the two offsets (<see cref="AddScheduleParameters"/>); the second follows it.</param>
    /// <returns>The expression, to place after <paramref name="source"/> in the statement's <c>WITH</c> list.</returns>
    public static string NewBookingsRemindersExpression(string source, int tenantParameter, int scheduleParameter)
        => $"reminders AS ({InsertJobsSql($"${tenantParameter}", "b.booking_id", "b.starts_at", $"{source} AS b", scheduleParameter)})";

    /// <summary>Adds the schedule's two offsets (24 h and 1 h by default) to the command's parameters.</summary>
    /// <param name="command">The statement whose text refers to them (<see cref="NewBookingsRemindersExpression"/>).</param>
    /// <returns>The number of the first of the two.</returns>
    public static int AddScheduleParameters(NpgsqlBatchCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var schedule = Schedule;
        command.Parameters.Add(new() { Value = schedule.DayBefore });
        command.Parameters.Add(new() { Value = schedule.HourBefore });
        return command.Parameters.Count - 1;
    }

    private static NpgsqlBatchCommand Enqueue(TenantId tenant, Guid bookingId, DateTimeOffset startsAt)
    {
        var insert = new NpgsqlBatchCommand();
        insert.Parameters.Add(new() { Value = tenant.Value });
        insert.Parameters.Add(new() { Value = bookingId });
        insert.Parameters.Add(new() { Value = startsAt.ToUniversalTime() });
        insert.CommandText = $"""
            {InsertJobsSql("$1", "$2", "$3::timestamptz", source: null, AddScheduleParameters(insert))}
            ON CONFLICT (tenant_id, booking_id, kind) DO UPDATE
                SET id = EXCLUDED.id, due_at = EXCLUDED.due_at, next_attempt_at = EXCLUDED.next_attempt_at, status = 'pending',
                    attempts = 0, last_error = NULL, created_at = EXCLUDED.created_at, finished_at = NULL
                WHERE reminder_jobs.status <> 'pending'
            """;
        return insert;
    }

    /// <summary>
    /// The insert of a booking's two jobs (24 h and 1 h before <paramref name="startsAt"/>, skipping those already due),
    /// for each row of <paramref name="source"/> when given; the schedule's two offsets are parameters
    /// <paramref name="scheduleParameter"/> and the next.
    /// </summary>
    private static string InsertJobsSql(string tenant, string bookingId, string startsAt, string? source, int scheduleParameter)
    {
        var from = source is null ? string.Empty : source + " CROSS JOIN LATERAL ";
        return $"""
            INSERT INTO reminder_jobs (tenant_id, id, booking_id, kind, due_at, next_attempt_at)
            SELECT {tenant}, gen_random_uuid(), {bookingId}, k.kind, k.due_at, k.due_at
            FROM {from}(VALUES ('24h', {startsAt} - ${scheduleParameter}::interval), ('1h', {startsAt} - ${scheduleParameter + 1}::interval)) AS k (kind, due_at)
            WHERE k.due_at > clock_timestamp()
            """;
    }

    /// <summary>
    /// Cancels a booking's pending reminders, in the cancellation's transaction. A reminder being sent right now holds
    /// its row: this waits for that send to finish (it is then sent, not cancelled).
    /// </summary>
    /// <param name="transaction">The cancellation's tenant transaction.</param>
    /// <param name="tenant">The business (the transaction's tenant).</param>
    /// <param name="bookingId">The booking.</param>
    /// <param name="cancellationToken">Cancels the statement.</param>
    /// <returns>A task that completes when the jobs are marked (not committed).</returns>
    public static async Task CancelForBookingAsync(NpgsqlTransaction transaction, TenantId tenant, Guid bookingId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        await using var update = new NpgsqlCommand(
            """
            UPDATE reminder_jobs SET status = 'cancelled', finished_at = clock_timestamp()
            WHERE tenant_id = $1 AND booking_id = $2 AND status = 'pending'
            """,
            transaction.Connection,
            transaction);
        update.Parameters.Add(new() { Value = tenant.Value });
        update.Parameters.Add(new() { Value = bookingId });
        await update.ExecuteNonQueryAsync(cancellationToken);
    }
}

/// <summary>How long before a booking its reminders are due.</summary>
/// <param name="DayBefore">The <c>24h</c> reminder's offset.</param>
/// <param name="HourBefore">The <c>1h</c> reminder's offset.</param>
public sealed record ReminderSchedule(TimeSpan DayBefore, TimeSpan HourBefore);
