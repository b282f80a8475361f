namespace Scaling.Tenancy.Sharding;

/// <summary>The SQL of the shard map's tables in the metadata database, for one schema name.</summary>
internal sealed class MetadataSchema
{
    internal MetadataSchema(string schema)
    {
        var s = Sql.Identifier(schema);
        Name = schema;
        CreateSql = $"""
            BEGIN;
            SELECT pg_advisory_xact_lock(hashtext({Sql.Literal("scaling_tenancy.metadata:" + schema)}));
            CREATE SCHEMA IF NOT EXISTS {s};
            CREATE TABLE IF NOT EXISTS {s}.map_epoch (
                singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                epoch bigint NOT NULL);
            INSERT INTO {s}.map_epoch (epoch) VALUES (1) ON CONFLICT DO NOTHING;
            CREATE TABLE IF NOT EXISTS {s}.shards (
                shard_id text PRIMARY KEY,
                primary_connection text NOT NULL,
                replica_connections text[] NOT NULL DEFAULT '{"{}"}',
                state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
                epoch bigint NOT NULL);
            CREATE TABLE IF NOT EXISTS {s}.tenants (
                tenant_id text PRIMARY KEY,
                plan text NOT NULL,
                shard_id text NOT NULL REFERENCES {s}.shards (shard_id),
                state text NOT NULL CHECK (state IN ('active', 'read_only', 'moving')),
                move_target text REFERENCES {s}.shards (shard_id),
                epoch bigint NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now());
            CREATE INDEX IF NOT EXISTS tenants_shard_id ON {s}.tenants (shard_id);
            COMMIT;
            """;
        EpochSql = $"SELECT epoch FROM {s}.map_epoch";
        BumpEpochSql = $"UPDATE {s}.map_epoch SET epoch = epoch + 1 RETURNING epoch";
        ShardsSql = $"SELECT shard_id, primary_connection, replica_connections, state FROM {s}.shards ORDER BY shard_id";
        TenantsSql = $"SELECT tenant_id, plan, shard_id, state, move_target, epoch FROM {s}.tenants";
        InsertShardSql = $"""
            INSERT INTO {s}.shards (shard_id, primary_connection, replica_connections, state, epoch) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (shard_id) DO UPDATE SET primary_connection = EXCLUDED.primary_connection,
                replica_connections = EXCLUDED.replica_connections, state = EXCLUDED.state, epoch = EXCLUDED.epoch
            """;
        LeastLoadedShardSql = $"""
            SELECT s.shard_id FROM {s}.shards s LEFT JOIN {s}.tenants t ON t.shard_id = s.shard_id
            WHERE s.state = 'open' GROUP BY s.shard_id ORDER BY count(t.tenant_id), s.shard_id LIMIT 1
            """;
        InsertTenantSql = $"INSERT INTO {s}.tenants (tenant_id, plan, shard_id, state, epoch) VALUES ($1, $2, $3, 'active', $4) ON CONFLICT (tenant_id) DO NOTHING";
        TenantRowSql = $"SELECT shard_id, state, move_target FROM {s}.tenants WHERE tenant_id = $1 FOR UPDATE";
        SetTenantStateSql = $"UPDATE {s}.tenants SET state = $2, move_target = $3, epoch = $4 WHERE tenant_id = $1";
        FlipTenantSql = $"UPDATE {s}.tenants SET shard_id = $2, state = 'active', move_target = NULL, epoch = $3 WHERE tenant_id = $1";
    }

    internal string Name { get; }

    internal string CreateSql { get; }

    internal string EpochSql { get; }

    internal string BumpEpochSql { get; }

    internal string ShardsSql { get; }

    internal string TenantsSql { get; }

    internal string InsertShardSql { get; }

    internal string LeastLoadedShardSql { get; }

    internal string InsertTenantSql { get; }

    internal string TenantRowSql { get; }

    internal string SetTenantStateSql { get; }

    internal string FlipTenantSql { get; }
}
