using Npgsql;

namespace Scaling.Tenancy.Sharding;

/// <summary>
/// The objects Scaling.Tenancy keeps in every shard database (schema <c>scaling_tenancy</c>): the tenants the shard
/// owns (the ground truth that detects a route made from a stale map and fences writes during a move), the
/// function that enters a tenant at the start of a transaction, and the change capture used by moves.
/// </summary>
internal static class ShardSchema
{
    /// <summary>SQLSTATE raised by <c>enter_tenant</c> when the shard does not own the tenant.</summary>
    internal const string NotOwnedSqlState = "SCT01";

    /// <summary>SQLSTATE raised by <c>enter_tenant</c> for a write while the tenant is read-only on the shard.</summary>
    internal const string ReadOnlySqlState = "SCT02";

    /// <summary>The setting row-level security policies compare <c>tenant_id</c> with.</summary>
    internal const string TenantSetting = "scaling.tenant_id";

    internal const string EnterSql = "SELECT scaling_tenancy.enter_tenant($1, $2)";

    /// <summary>The entry and the tenant role in one statement (<c>set_config('role', $3, true)</c> is <c>SET LOCAL ROLE</c>).</summary>
    internal const string EnterAsRoleSql = "SELECT scaling_tenancy.enter_tenant($1, $2), set_config('role', $3, true)";

    private const long SchemaLockKey = 0x5CA1_7E4A_0001;

    /// <summary>
    /// The first key of the two-key advisory locks on tenants (the second is <c>hashtext(tenant_id)</c>): shared by a
    /// tenant write under read committed, exclusive for a move's fence. Two-key locks never collide with an
    /// application's one-key (<c>bigint</c>) advisory locks.
    /// </summary>
    internal const int TenantLockSpace = 0x5CA1_7E4;

    private static readonly string CreateSql = $$"""
        CREATE SCHEMA IF NOT EXISTS scaling_tenancy;
        CREATE TABLE IF NOT EXISTS scaling_tenancy.owned_tenants (
            tenant_id text PRIMARY KEY,
            state text NOT NULL CHECK (state IN ('active', 'read_only', 'incoming')),
            changed_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE IF NOT EXISTS scaling_tenancy.move_changes (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            tenant_id text NOT NULL,
            table_name text NOT NULL,
            key jsonb NOT NULL);
        CREATE INDEX IF NOT EXISTS move_changes_tenant_id ON scaling_tenancy.move_changes (tenant_id, id);

        -- Called first in every tenant transaction: checks that this shard owns the tenant (and, for a write, that
        -- the tenant is writable here, holding a shared lock on the tenant until the transaction ends so that a move's
        -- fence waits for writes in flight), then sets the tenant for row-level security for this transaction only.
        -- Under read committed the lock is a shared advisory lock (the fence takes it exclusively): no row lock, so no
        -- tuple write, WAL record or multixact per write; the state is read after it is granted, with a new snapshot,
        -- so a write that waited for a fence sees the fence's state. Under repeatable read and serializable the
        -- snapshot may be older than a fence that committed meanwhile: those share-lock the row, which turns that
        -- case into a serialization failure (retried) instead of a stale 'active'.
        CREATE OR REPLACE FUNCTION scaling_tenancy.enter_tenant(p_tenant text, p_write boolean) RETURNS text
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
        DECLARE
            s text;
        BEGIN
            IF p_write AND current_setting('transaction_isolation') = 'read committed' THEN
                PERFORM pg_advisory_xact_lock_shared({{TenantLockSpace}}, hashtext(p_tenant));
                SELECT state INTO s FROM scaling_tenancy.owned_tenants WHERE tenant_id = p_tenant;
            ELSIF p_write THEN
                SELECT state INTO s FROM scaling_tenancy.owned_tenants WHERE tenant_id = p_tenant FOR SHARE;
            ELSE
                SELECT state INTO s FROM scaling_tenancy.owned_tenants WHERE tenant_id = p_tenant;
            END IF;
            IF s IS NULL OR s = 'incoming' THEN
                RAISE EXCEPTION USING ERRCODE = 'SCT01', MESSAGE = format('The tenant %s is not on this shard.', p_tenant);
            END IF;
            IF p_write AND s <> 'active' THEN
                RAISE EXCEPTION USING ERRCODE = 'SCT02', MESSAGE = format('The tenant %s is read-only on this shard.', p_tenant);
            END IF;
            PERFORM set_config('scaling.tenant_id', p_tenant, true);
            RETURN s;
        END
        $fn$;

        -- Row trigger installed on each tenant table while the tenant named in TG_ARGV[0] moves away: records the
        -- primary key (columns TG_ARGV[2..]) of every row of that tenant that changes, under the table name TG_ARGV[1].
        -- SECURITY DEFINER: the writer (e.g. the tenant role) needs no rights on scaling_tenancy.
        CREATE OR REPLACE FUNCTION scaling_tenancy.capture_change() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
        DECLARE
            r jsonb;
            k jsonb;
            i int;
        BEGIN
            FOREACH r IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END] LOOP
                CONTINUE WHEN r IS NULL OR r ->> 'tenant_id' IS DISTINCT FROM TG_ARGV[0];
                k := '{}'::jsonb;
                FOR i IN 2 .. TG_NARGS - 1 LOOP
                    k := k || jsonb_build_object(TG_ARGV[i], r -> TG_ARGV[i]);
                END LOOP;
                INSERT INTO scaling_tenancy.move_changes (tenant_id, table_name, key) VALUES (TG_ARGV[0], TG_ARGV[1], k);
            END LOOP;
            RETURN NULL;
        END
        $fn$;
        """;

    /// <summary>
    /// Creates or updates the shard's <c>scaling_tenancy</c> objects (idempotent, serialized by an advisory lock) and,
    /// when <paramref name="tenantRole"/> is set, the role tenant transactions run as.
    /// </summary>
    internal static async Task EnsureAsync(NpgsqlDataSource dataSource, string shardId, string? tenantRole, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var connectionLifetime = connection.ConfigureAwait(false);
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var transactionLifetime = transaction.ConfigureAwait(false);
        using (var command = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({SchemaLockKey}); {CreateSql}", connection, transaction))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        if (tenantRole is not null)
        {
            var role = Sql.Identifier(tenantRole);
            var literal = Sql.Literal(tenantRole);
            using var command = new NpgsqlCommand(
                $"""
                DO $do$ BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {literal}) THEN
                        CREATE ROLE {role} NOLOGIN;
                    END IF;
                EXCEPTION WHEN duplicate_object THEN NULL;
                END $do$;
                SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = {literal};
                """,
                connection,
                transaction);
            if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true)
            {
                throw new InvalidOperationException(
                    $"The tenant role {DisplayText.Quote(tenantRole)} on shard '{shardId}' is a superuser or has BYPASSRLS, so row-level security would not apply to it; use an ordinary role.");
            }
        }
        else
        {
            await ThrowIfRoleBypassesRlsAsync(connection, shardId, cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Throws when the connection's role is a superuser or has BYPASSRLS (row-level security would not apply to it).</summary>
    internal static async Task ThrowIfRoleBypassesRlsAsync(NpgsqlConnection connection, string shardId, CancellationToken cancellationToken)
    {
        using var command = new NpgsqlCommand("SELECT current_user::text, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user", connection);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerLifetime = reader.ConfigureAwait(false);
        if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false) && reader.GetBoolean(1))
        {
            throw new InvalidOperationException(
                $"Shard '{shardId}' is reached as the role {DisplayText.Quote(reader.GetString(0))}, which is a superuser or has BYPASSRLS, so row-level security would not isolate tenants. " +
                "Either connect as an ordinary role, or set ScalingTenancyOptions.TenantRole so that tenant transactions run as that role (SET LOCAL ROLE).");
        }
    }

    /// <summary>Makes the shard own a tenant (active); returns whether it was new there.</summary>
    internal static async Task<bool> ClaimTenantAsync(NpgsqlConnection connection, TenantId tenantId, CancellationToken cancellationToken)
    {
        using var command = new NpgsqlCommand("INSERT INTO scaling_tenancy.owned_tenants (tenant_id, state) VALUES ($1, 'active') ON CONFLICT (tenant_id) DO NOTHING", connection);
        command.Parameters.Add(new() { Value = tenantId.Value });
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>Undoes <see cref="ClaimTenantAsync"/> for a tenant whose creation failed.</summary>
    internal static async Task ReleaseTenantAsync(NpgsqlConnection connection, TenantId tenantId, CancellationToken cancellationToken)
    {
        using var command = new NpgsqlCommand("DELETE FROM scaling_tenancy.owned_tenants WHERE tenant_id = $1 AND state = 'active'", connection);
        command.Parameters.Add(new() { Value = tenantId.Value });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
