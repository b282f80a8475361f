using Scaling.Tenancy.Migrations;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Reminders;

/// <summary>
/// The reminder queue's tables on every shard (migration versions 10–19, then 40–49: the runner refuses a version below
/// one already applied, and the booking domain's 30–39 came first).
/// </summary>
public static class ReminderSchema
{
    /// <summary>The area's tenant tables (what a tenant move copies).</summary>
    public static readonly IReadOnlyList<string> TenantTables = ["reminder_jobs", "reminder_deliveries"];

    /// <summary>The migrations.</summary>
    /// <param name="tenantRole">The role tenant transactions run as (row-level security and grants).</param>
    public static SqlMigration[] Migrations(string tenantRole) =>
    [
        new SqlMigration(10, "reminder_queue", MigrationScope.Shards, $"""
            CREATE TABLE reminder_jobs (
                tenant_id text NOT NULL,
                id uuid NOT NULL,
                booking_id uuid NOT NULL,
                kind text NOT NULL CHECK (kind IN ('24h', '1h')),
                due_at timestamptz NOT NULL,
                status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead', 'cancelled')),
                attempts int NOT NULL DEFAULT 0,
                next_attempt_at timestamptz NOT NULL,
                last_error text,
                created_at timestamptz NOT NULL DEFAULT now(),
                finished_at timestamptz,
                PRIMARY KEY (tenant_id, id));
            -- The worker's scan: due pending jobs, oldest first (a small partial index: finished jobs leave it).
            CREATE INDEX reminder_jobs_due ON reminder_jobs (next_attempt_at) WHERE status = 'pending';
            -- One pending job per booking and kind: enqueueing again (a retried booking request) adds nothing; also
            -- the lookup of a booking's pending jobs when it is cancelled.
            CREATE UNIQUE INDEX reminder_jobs_pending_booking ON reminder_jobs (tenant_id, booking_id, kind) WHERE status = 'pending';
            -- What the default sender records: at most one delivery per job.
            CREATE TABLE reminder_deliveries (
                tenant_id text NOT NULL,
                id uuid NOT NULL,
                job_id uuid NOT NULL,
                booking_id uuid NOT NULL,
                kind text NOT NULL,
                attempt int NOT NULL,
                delivered_by text NOT NULL,
                delivered_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                PRIMARY KEY (tenant_id, id),
                UNIQUE (tenant_id, job_id));
            {RowLevelSecurity.EnableSql("reminder_jobs", tenantRole)}
            {RowLevelSecurity.EnableSql("reminder_deliveries", tenantRole)}
            """),
        new SqlMigration(40, "reminder_jobs_keyed_by_booking", MigrationScope.Shards, """
            -- A booking has at most one reminder of each kind: that is the key. It replaces the (tenant, id) key and the
            -- unique index of pending jobs, one index fewer to write for each of a booking's two reminders; the worker
            -- and a cancellation find jobs by it, and the job id stays a column (the receivers' idempotency key). Fails,
            -- changing nothing, if a booking already has two jobs of one kind (only a booking enqueued again after its
            -- reminder finished could).
            ALTER TABLE reminder_jobs DROP CONSTRAINT reminder_jobs_pkey, ADD PRIMARY KEY (tenant_id, booking_id, kind);
            DROP INDEX reminder_jobs_pending_booking;
            """),
    ];
}
