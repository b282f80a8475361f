using Npgsql;
using Scaling.Tenancy;

namespace BookingHost.Domain;

/// <summary>The catalog's inserts, added to a batch of a tenant transaction (used by the endpoints and the demo seed).</summary>
public static class CatalogWrites
{
    /// <summary>Adds the insert of a service.</summary>
    public static void AddService(NpgsqlBatch batch, TenantId tenant, ServiceView service)
    {
        var insert = new NpgsqlBatchCommand("INSERT INTO services (tenant_id, id, name, duration_minutes, price_cents) VALUES ($1, $2, $3, $4, $5)");
        insert.Parameters.Add(new() { Value = tenant.Value });
        insert.Parameters.Add(new() { Value = service.Id });
        insert.Parameters.Add(new() { Value = service.Name });
        insert.Parameters.Add(new() { Value = service.DurationMinutes });
        insert.Parameters.Add(new() { Value = service.PriceCents });
        batch.BatchCommands.Add(insert);
    }

    /// <summary>Adds the inserts of a resource and its working hours.</summary>
    public static void AddResource(NpgsqlBatch batch, TenantId tenant, ResourceView resource)
    {
        var insert = new NpgsqlBatchCommand("INSERT INTO resources (tenant_id, id, name, kind) VALUES ($1, $2, $3, $4)");
        insert.Parameters.Add(new() { Value = tenant.Value });
        insert.Parameters.Add(new() { Value = resource.Id });
        insert.Parameters.Add(new() { Value = resource.Name });
        insert.Parameters.Add(new() { Value = resource.Kind });
        batch.BatchCommands.Add(insert);
        foreach (var h in resource.Hours)
        {
            var hour = new NpgsqlBatchCommand("INSERT INTO working_hours (tenant_id, resource_id, weekday, opens, closes) VALUES ($1, $2, $3, $4, $5)");
            hour.Parameters.Add(new() { Value = tenant.Value });
            hour.Parameters.Add(new() { Value = resource.Id });
            hour.Parameters.Add(new() { Value = (short)h.Weekday });
            hour.Parameters.Add(new() { Value = h.Opens });
            hour.Parameters.Add(new() { Value = h.Closes });
            batch.BatchCommands.Add(hour);
        }
    }
}
