using Microsoft.Extensions.Logging;
using Npgsql;

namespace Scaling.Tenancy.Sharding;

/// <summary>
/// Administration of the shard map, apart from routing: registering shards, and creating tenants (placing each on a
/// shard). Every change is written under a new epoch and pushed to every instance. Tenant moves are
/// <see cref="TenantMover"/>'s. Registered by <c>AddScalingTenancy</c>.
/// </summary>
public sealed class TenantAdministration
{
    private readonly IShardAccess _shards;
    private readonly ILogger _logger;

    /// <summary>Creates the administration over a router's map and shards.</summary>
    /// <param name="router">The router (its map, options and shards' data sources).</param>
    public TenantAdministration(ShardRouter router)
    {
        ArgumentNullException.ThrowIfNull(router);
        IShardAccess shards = router;
        _shards = shards;
        _logger = shards.LoggerFactory.CreateLogger<TenantAdministration>();
    }

    private ShardMap Map => _shards.Map;

    /// <summary>
    /// Registers a shard in the map (or updates its connection strings and state): creates Scaling.Tenancy's objects
    /// in the shard database (and <see cref="ScalingTenancyOptions.TenantRole"/>), then records it under a new epoch.
    /// </summary>
    /// <param name="shard">The shard.</param>
    /// <param name="cancellationToken">Cancels the registration.</param>
    /// <returns>A task that completes when the shard is in the map.</returns>
    public async Task AddShardAsync(ShardInfo shard, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(shard);
        await Map.StartAsync(cancellationToken).ConfigureAwait(false);
        var dataSource = NpgsqlDataSource.Create(shard.PrimaryConnectionString);
        await using (dataSource.ConfigureAwait(false))
        {
            await ShardSchema.EnsureAsync(dataSource, shard.Id, _shards.Options.TenantRole, cancellationToken).ConfigureAwait(false);
        }

        await Map.UpsertShardAsync(shard, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Creates a tenant: places it on <paramref name="shardId"/>, or on the open shard with the fewest tenants, makes
    /// that shard own it, and records it in the map under a new epoch (pushed to every instance).
    /// </summary>
    /// <param name="tenantId">The new tenant's id.</param>
    /// <param name="plan">Its subscription plan.</param>
    /// <param name="shardId">The shard to place it on, or <see langword="null"/> for the least-loaded open shard.</param>
    /// <param name="cancellationToken">Cancels the creation.</param>
    /// <returns>The new placement.</returns>
    /// <exception cref="InvalidOperationException">The tenant already exists, the shard is unknown, or no shard is open.</exception>
    public async Task<TenantPlacement> CreateTenantAsync(TenantId tenantId, string plan, string? shardId = null, CancellationToken cancellationToken = default)
    {
        _ = new TenantInfo(tenantId, plan); // validates both
        await Map.StartAsync(cancellationToken).ConfigureAwait(false);
        if (shardId is not null)
        {
            ShardIds.ThrowIfInvalid(shardId, nameof(shardId));
            if (!Map.TryGetShard(shardId, out _))
            {
                await Map.RefreshAsync("change", cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            shardId = await Map.LeastLoadedShardAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"Tenant '{tenantId}' cannot be placed: the shard map has no open shard.");
            await Map.RefreshAsync("change", cancellationToken).ConfigureAwait(false);
        }

        if (Map.TryGetTenant(tenantId, out var existing))
        {
            throw new InvalidOperationException($"The tenant '{tenantId}' already exists (on shard '{existing.ShardId}').");
        }

        var shard = _shards.GetShard(shardId);
        bool claimed;
        var connection = await shard.OpenWriteConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            claimed = await ShardSchema.ClaimTenantAsync(connection, tenantId, cancellationToken).ConfigureAwait(false);
        }

        var created = false;
        try
        {
            await Map.InsertTenantAsync(tenantId, plan, shardId, cancellationToken).ConfigureAwait(false);
            created = true;
        }
        finally
        {
            if (!created && claimed)
            {
                var cleanup = await shard.OpenWriteConnectionAsync(CancellationToken.None).ConfigureAwait(false);
                await using var cleanupLifetime = cleanup.ConfigureAwait(false);
                await ShardSchema.ReleaseTenantAsync(cleanup, tenantId, CancellationToken.None).ConfigureAwait(false);
            }
        }

        var placement = await _shards.RouteAsync(tenantId, cancellationToken).ConfigureAwait(false);
        TenancyLog.TenantCreated(_logger, tenantId.Value, placement.ShardId, placement.Epoch);
        return placement;
    }
}
