namespace Scaling.Tenancy.Sharding;

/// <summary>
/// SQL that puts a tenant table under row-level security keyed on its <c>tenant_id</c> column, for use in a shard
/// migration. Inside a tenant transaction of <see cref="ShardRouter"/> only the current tenant's rows are visible,
/// and inserting or updating a row of another tenant fails; outside one (no tenant set) no row is visible at all.
/// </summary>
public static class RowLevelSecurity
{
    /// <summary>The name of the policy the generated SQL creates.</summary>
    public const string PolicyName = "scaling_tenant_isolation";

    /// <summary>
    /// Returns idempotent SQL that enables and forces row-level security on <paramref name="table"/> (so it applies to
    /// the table's owner too), (re)creates the isolation policy, and, when <paramref name="tenantRole"/> is given, grants
    /// that role SELECT, INSERT, UPDATE and DELETE on the table and USAGE on the sequences the table owns.
    /// </summary>
    /// <param name="table">The table, <c>table</c> or <c>schema.table</c> (lowercase letters, digits, '_'); it must have a <c>tenant_id text</c> column.</param>
    /// <param name="tenantRole">The role tenant transactions run as (<see cref="ScalingTenancyOptions.TenantRole"/>), or <see langword="null"/>.</param>
    /// <returns>The SQL.</returns>
    /// <exception cref="ArgumentException">A name is not a plain SQL name.</exception>
    public static string EnableSql(string table, string? tenantRole = null)
    {
        var probe = new ScalingTenancyOptions { MetadataConnectionString = "x", TenantRole = tenantRole };
        probe.TenantTables.Add(table);
        var failures = new ScalingTenancyOptionsValidator().Validate(null, probe);
        if (failures.Failed)
        {
            throw new ArgumentException(string.Join(" ", failures.Failures!), tenantRole is null ? nameof(table) : nameof(tenantRole));
        }

        var name = Sql.QualifiedName(table);
        var check = $"tenant_id = current_setting('{ShardSchema.TenantSetting}', true)";
        var sql = $"""
            ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE {name} FORCE ROW LEVEL SECURITY;
            DROP POLICY IF EXISTS {PolicyName} ON {name};
            CREATE POLICY {PolicyName} ON {name} USING ({check}) WITH CHECK ({check});
            """;
        if (tenantRole is not null)
        {
            var role = Sql.Identifier(tenantRole);
            sql += $"""

                GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {role};
                DO $grant$ DECLARE s regclass; BEGIN
                    FOR s IN SELECT d.objid::regclass FROM pg_depend d JOIN pg_class c ON c.oid = d.objid AND c.relkind = 'S'
                             WHERE d.refobjid = {Sql.Literal(name)}::regclass AND d.deptype IN ('a', 'i') LOOP
                        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', s, {Sql.Literal(tenantRole)});
                    END LOOP;
                END $grant$;
                """;
        }

        return sql;
    }
}
