using Npgsql;

namespace Scaling.Tenancy.Sharding;

/// <summary>
/// The map's writes, each under a new epoch (pushed to every instance): the one place that runs the map's change SQL
/// (<see cref="MetadataSchema"/>). Administration (<see cref="TenantAdministration"/>) and moves (<see cref="TenantMover"/>)
/// change the map only through these.
/// </summary>
public sealed partial class ShardMap
{
    /// <summary>Records a shard (or updates its connection strings and state).</summary>
    internal Task<long> UpsertShardAsync(ShardInfo shard, CancellationToken cancellationToken) =>
        ChangeAsync(
            async (connection, epoch, ct) =>
            {
                using var command = new NpgsqlCommand(_schema.InsertShardSql, connection);
                command.Parameters.Add(new() { Value = shard.Id });
                command.Parameters.Add(new() { Value = shard.PrimaryConnectionString });
                command.Parameters.Add(new() { Value = shard.ReplicaConnectionStrings.ToArray() });
                command.Parameters.Add(new() { Value = shard.State == ShardState.Open ? "open" : "closed" });
                command.Parameters.Add(new() { Value = epoch });
                await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            cancellationToken);

    /// <summary>The open shard with the fewest tenants, or <see langword="null"/> when no shard is open.</summary>
    internal async Task<string?> LeastLoadedShardAsync(CancellationToken cancellationToken)
    {
        var connection = await _metadata.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var connectionLifetime = connection.ConfigureAwait(false);
        using var command = new NpgsqlCommand(_schema.LeastLoadedShardSql, connection);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
    }

    /// <summary>Records a new tenant on a shard; throws <see cref="InvalidOperationException"/> when it already exists.</summary>
    internal Task<long> InsertTenantAsync(TenantId tenantId, string plan, string shardId, CancellationToken cancellationToken) =>
        ChangeAsync(
            async (connection, epoch, ct) =>
            {
                using var command = new NpgsqlCommand(_schema.InsertTenantSql, connection);
                command.Parameters.Add(new() { Value = tenantId.Value });
                command.Parameters.Add(new() { Value = plan });
                command.Parameters.Add(new() { Value = shardId });
                command.Parameters.Add(new() { Value = epoch });
                if (await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1)
                {
                    throw new InvalidOperationException($"The tenant '{tenantId}' already exists.");
                }
            },
            cancellationToken);

    /// <summary>Sets a tenant's state (and the target of its move, or none).</summary>
    internal Task<long> SetTenantStateAsync(TenantId tenantId, string state, string? moveTarget, CancellationToken cancellationToken) =>
        ChangeAsync(
            async (connection, epoch, ct) =>
            {
                using var command = new NpgsqlCommand(_schema.SetTenantStateSql, connection);
                command.Parameters.Add(new() { Value = tenantId.Value });
                command.Parameters.Add(new() { Value = state });
                command.Parameters.Add(new() { Value = (object?)moveTarget ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
                command.Parameters.Add(new() { Value = epoch });
                await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            cancellationToken);

    /// <summary>Flips a tenant to its new shard, active again.</summary>
    internal Task<long> FlipTenantAsync(TenantId tenantId, string shardId, CancellationToken cancellationToken) =>
        ChangeAsync(
            async (connection, epoch, ct) =>
            {
                using var command = new NpgsqlCommand(_schema.FlipTenantSql, connection);
                command.Parameters.Add(new() { Value = tenantId.Value });
                command.Parameters.Add(new() { Value = shardId });
                command.Parameters.Add(new() { Value = epoch });
                await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            cancellationToken);
}
