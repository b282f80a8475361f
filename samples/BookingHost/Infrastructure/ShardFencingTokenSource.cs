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
    private readonly ConcurrentDictionary<string, PostgresFencingTokenSource> _sources = new(StringComparer.Ordinal);

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
        var source = _sources.GetOrAdd(placement.ShardId, id => new PostgresFencingTokenSource(router.GetShard(id).Primary));
        return await source.NextAsync(resource, cancellationToken);
    }

    /// <summary>Creates the fences table on a shard.</summary>
    public Task EnsureSchemaAsync(string shardId, CancellationToken cancellationToken)
        => _sources.GetOrAdd(shardId, id => new PostgresFencingTokenSource(router.GetShard(id).Primary)).EnsureSchemaAsync(cancellationToken);
}
