using Scaling.Tenancy.Migrations;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Domain;

/// <summary>The booking domain's tables on every shard (businesses, services, staff/resources, hours, bookings, queues).</summary>
public static class BookingSchema
{
    /// <summary>The domain's tenant tables, parents first (what a tenant move copies).</summary>
    public static readonly IReadOnlyList<string> TenantTables =
        ["businesses", "services", "resources", "working_hours", "bookings", "booking_slots", "queue_counters", "queue_tokens"];

    /// <summary>The migrations (versions 1–9, then 30–39: 10–29 were taken by the reminders and the accounts).</summary>
    public static SqlMigration[] Migrations(string tenantRole) =>
    [
        new SqlMigration(1, "booking_domain", MigrationScope.Shards, $"""
            CREATE EXTENSION IF NOT EXISTS btree_gist;
            CREATE TABLE businesses (
                tenant_id text PRIMARY KEY,
                name text NOT NULL,
                time_zone text NOT NULL DEFAULT 'UTC',
                slot_minutes int NOT NULL DEFAULT 15 CHECK (slot_minutes BETWEEN 5 AND 120),
                created_at timestamptz NOT NULL DEFAULT now());
            CREATE TABLE services (
                tenant_id text NOT NULL,
                id uuid NOT NULL,
                name text NOT NULL,
                duration_minutes int NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
                price_cents int NOT NULL CHECK (price_cents >= 0),
                active boolean NOT NULL DEFAULT true,
                PRIMARY KEY (tenant_id, id));
            CREATE TABLE resources (
                tenant_id text NOT NULL,
                id uuid NOT NULL,
                name text NOT NULL,
                kind text NOT NULL CHECK (kind IN ('staff', 'room')),
                active boolean NOT NULL DEFAULT true,
                PRIMARY KEY (tenant_id, id));
            CREATE TABLE working_hours (
                tenant_id text NOT NULL,
                resource_id uuid NOT NULL,
                weekday smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
                opens time NOT NULL,
                closes time NOT NULL CHECK (closes > opens),
                PRIMARY KEY (tenant_id, resource_id, weekday),
                FOREIGN KEY (tenant_id, resource_id) REFERENCES resources (tenant_id, id) ON DELETE CASCADE);
            -- Partitioned by start time (monthly partitions kept by Scaling.Data's PartitionMaintainer).
            CREATE TABLE bookings (
                tenant_id text NOT NULL,
                id uuid NOT NULL,
                resource_id uuid NOT NULL,
                service_id uuid NOT NULL,
                customer_id uuid NOT NULL,
                starts_at timestamptz NOT NULL,
                ends_at timestamptz NOT NULL,
                status text NOT NULL CHECK (status IN ('confirmed', 'cancelled', 'completed')),
                notes text,
                created_at timestamptz NOT NULL DEFAULT now(),
                CHECK (ends_at > starts_at),
                PRIMARY KEY (tenant_id, id, starts_at)) PARTITION BY RANGE (starts_at);
            CREATE INDEX bookings_customer ON bookings (tenant_id, customer_id, starts_at);
            CREATE INDEX bookings_resource ON bookings (tenant_id, resource_id, starts_at);
            CREATE INDEX bookings_id ON bookings (tenant_id, id);
            -- The ground truth against double booking. PostgreSQL 15 cannot put an exclusion constraint on a
            -- partitioned table, and per-partition constraints would miss overlaps across a partition boundary,
            -- so each booking's time range lives in this unpartitioned table, written in the booking's transaction.
            CREATE TABLE booking_slots (
                tenant_id text NOT NULL,
                booking_id uuid NOT NULL,
                resource_id uuid NOT NULL,
                during tstzrange NOT NULL,
                cancelled boolean NOT NULL DEFAULT false,
                PRIMARY KEY (tenant_id, booking_id),
                CONSTRAINT booking_slots_no_overlap EXCLUDE USING gist (tenant_id WITH =, resource_id WITH =, during WITH &&) WHERE (NOT cancelled));
            CREATE TABLE queue_counters (
                tenant_id text NOT NULL,
                location text NOT NULL,
                day date NOT NULL,
                last_number int NOT NULL,
                PRIMARY KEY (tenant_id, location, day));
            CREATE TABLE queue_tokens (
                tenant_id text NOT NULL,
                location text NOT NULL,
                day date NOT NULL,
                number int NOT NULL,
                customer_name text NOT NULL,
                status text NOT NULL CHECK (status IN ('waiting', 'called', 'serving', 'completed', 'skipped')),
                issued_at timestamptz NOT NULL DEFAULT now(),
                called_at timestamptz,
                started_at timestamptz,
                finished_at timestamptz,
                PRIMARY KEY (tenant_id, location, day, number));
            {string.Concat(TenantTables.Select(t => RowLevelSecurity.EnableSql(t, tenantRole) + "\n"))}
            """),
        new SqlMigration(2, "queue_lock_fences_grant", MigrationScope.Shards, $"""
            -- Queue transitions are fenced (Scaling.Locks): the tenant role checks the latest token in its transaction.
            GRANT SELECT, UPDATE ON scaling_lock_fences TO {tenantRole};
            """),
        new SqlMigration(30, "queue_tokens_waiting", MigrationScope.Shards, """
            -- Calling the next in line walked the day's tokens from the first, past everyone already called or served
            -- (hundreds of rows late in a busy day); the first waiting token is found here instead.
            CREATE INDEX queue_tokens_waiting ON queue_tokens (tenant_id, location, day, number) WHERE status = 'waiting';
            """),
        new SqlMigration(31, "bookings_id_dropped", MigrationScope.Shards, """
            -- The primary key (tenant_id, id, starts_at) serves every lookup by (tenant_id, id): one index fewer to write per booking.
            DROP INDEX IF EXISTS bookings_id;
            """),
        new SqlMigration(32, "booking_slots_overlap_by_resource", MigrationScope.Shards, """
            -- The overlap check on (resource, time range): a resource's id is made by the server and unique across
            -- businesses, so the tenant's text column added nothing but work to every check (a text comparison and its
            -- detoasting at each GiST entry): a bulk insert of 100,000 slots took 4.4-4.5 s with it, 2.2-2.3 s without. One statement, so the
            -- constraint is never missing (the table is locked while the new index is built).
            ALTER TABLE booking_slots
                DROP CONSTRAINT booking_slots_no_overlap,
                ADD CONSTRAINT booking_slots_no_overlap EXCLUDE USING gist (resource_id WITH =, during WITH &&) WHERE (NOT cancelled);
            """),
        new SqlMigration(33, "bookings_resource_dropped", MigrationScope.Shards, """
            -- No query reads bookings by resource (availability reads booking_slots): one index fewer to write per booking.
            DROP INDEX IF EXISTS bookings_resource;
            """),
    ];
}
