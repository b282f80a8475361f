using System.Collections.Concurrent;
using Scaling.Locks;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Infrastructure;

/// <summary>
/// Fencing tokens for per-business locks, issued by the business's own shard (the database the guarded writes go
/// to, so <see cref="FencingGuard"/> checks them in the write's transaction). Lock resources are named
/// <c>{area}:{tenant}:...</c>.
/// </summary>
public sealed class ShardFencingTokenSource(ShardRouter router) : IFencingTokenSource
{
    private readonly ConcurrentDictionary<string, byte> _schemaReady = new(StringComparer.Ordinal);

    /// <summary>The lock resource of a business-scoped thing.</summary>
    public static string Resource(string area, TenantId tenant, string rest) => $"{area}:{tenant}:{rest}";

    /// <inheritdoc />
    public async Task<long> NextAsync(string resource, CancellationToken cancellationToken = default)
    {
        var parts = resource.Split(':', 3);
        if (parts.Length < 3 || !TenantId.TryParse(parts[1], out var tenant))
        {
            throw new ArgumentException($"The lock resource '{resource}' does not name a business ('area:tenant:...').", nameof(resource));
        }

        var placement = await router.RouteAsync(tenant, cancellationToken);
        if (!_schemaReady.ContainsKey(placement.ShardId))
        {
            await EnsureSchemaAsync(placement.ShardId, cancellationToken);
        }

        // Through the shard's data source, not its raw primary: a primary its health monitor found silent then fails
        // fast (PrimaryUnavailableException, a 503) instead of holding the call for Npgsql's own timeouts. A retry after
        // a lost connection may skip a token; tokens only have to grow.
        // One round trip: the token's upsert and the COMMIT in one batch.
        var issued = await router.GetShard(placement.ShardId).WriteBatchReturningAsync(
            batch => batch.BatchCommands.Add(PostgresFencingTokenSource.CreateNextCommand(resource)),
            static async (reader, ct) => await reader.ReadAsync(ct) ? reader.GetInt64(0) : throw new InvalidOperationException("The token's upsert returned no row."),
            idempotent: true,
            cancellationToken: cancellationToken);
        return issued.Value;
    }

    /// <summary>Creates the fences table on a shard.</summary>
    public async Task EnsureSchemaAsync(string shardId, CancellationToken cancellationToken)
    {
        await new PostgresFencingTokenSource(router.GetShard(shardId).Primary).EnsureSchemaAsync(cancellationToken);
        _schemaReady.TryAdd(shardId, 0);
    }
}
