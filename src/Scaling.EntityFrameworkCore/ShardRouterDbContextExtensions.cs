using System.Data;
using Microsoft.EntityFrameworkCore;
using Scaling.EntityFrameworkCore;
using Scaling.Tenancy;

namespace Scaling.Tenancy.Sharding;

/// <summary>
/// EF Core on a tenant's shard: a <see cref="DbContext"/> from your factory runs inside the same per-transaction tenant
/// entry as <see cref="ShardRouter.WriteAsync{T}"/> and <see cref="ShardRouter.ReadAsync{T}"/> (ownership check, row-level
/// security tenant setting and role), so a query that forgets its tenant filter still sees only the tenant's rows.
/// </summary>
/// <remarks>
/// Configure the context with <c>UseNpgsql()</c> and no connection string or data source: each call lends it the connection
/// and transaction the router opened on the tenant's shard, and takes them back before the context is disposed (a pooled
/// context returns to its pool with no connection, no transaction and no tracked entity). A context is created per attempt,
/// so a write the router runs again (after a lost connection, or on the new shard after a tenant move) starts clean.
/// </remarks>
public static class ShardRouterDbContextExtensions
{
    /// <summary>
    /// Runs <paramref name="write"/> with a context on the primary of the tenant's shard, inside a transaction entered as the
    /// tenant; saves what it left pending, commits, and returns the read-your-writes token. Retries and move handling are
    /// those of <see cref="ShardRouter.WriteAsync{T}"/>.
    /// </summary>
    /// <typeparam name="TContext">The context type.</typeparam>
    /// <typeparam name="T">What the write returns.</typeparam>
    /// <param name="router">The router.</param>
    /// <param name="contexts">Creates the contexts (for example from <c>AddPooledDbContextFactory</c>).</param>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="write">The work; it may call <c>SaveChangesAsync</c> itself. It must not commit, roll back or open another transaction.</param>
    /// <param name="idempotent">Whether running the write twice is harmless (allows a retry after a lost connection).</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>What <paramref name="write"/> returned, and the token a later read passes to see it.</returns>
    /// <exception cref="TenantNotFoundException">No such tenant.</exception>
    /// <exception cref="TenantUnavailableException">The tenant is read-only (a move is finishing) or its shard cannot be reached; nothing was written; retry later.</exception>
    public static Task<ShardWriteResult<T>> WriteAsync<TContext, T>(
        this ShardRouter router,
        IDbContextFactory<TContext> contexts,
        TenantId tenantId,
        Func<TContext, CancellationToken, Task<T>> write,
        bool idempotent = false,
        CancellationToken cancellationToken = default)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(router);
        ArgumentNullException.ThrowIfNull(contexts);
        ArgumentNullException.ThrowIfNull(write);
        return router.WriteAsync(
            tenantId,
            (transaction, ct) => DbContextRun.WriteAsync(contexts, transaction, write, ct),
            idempotent,
            IsolationLevel.ReadCommitted,
            cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="read"/> with a context entered as the tenant on a replica of its shard that has reached
    /// <paramref name="token"/>, or on the primary (as <see cref="ShardRouter.ReadAsync{T}"/> routes). Queries do not track.
    /// </summary>
    /// <typeparam name="TContext">The context type.</typeparam>
    /// <typeparam name="T">What the read returns.</typeparam>
    /// <param name="router">The router.</param>
    /// <param name="contexts">Creates the contexts.</param>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="read">The read; it may run more than once (on another server after a failure).</param>
    /// <param name="token">The token of the caller's last write (from <see cref="WriteAsync"/>), or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>What <paramref name="read"/> returned.</returns>
    /// <exception cref="TenantNotFoundException">No such tenant.</exception>
    /// <exception cref="TenantUnavailableException">The tenant's shard cannot serve the read; retry later.</exception>
    public static Task<T> ReadAsync<TContext, T>(
        this ShardRouter router,
        IDbContextFactory<TContext> contexts,
        TenantId tenantId,
        Func<TContext, CancellationToken, Task<T>> read,
        ShardConsistencyToken? token = null,
        CancellationToken cancellationToken = default)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(router);
        ArgumentNullException.ThrowIfNull(contexts);
        ArgumentNullException.ThrowIfNull(read);
        return router.ReadAsync(tenantId, (connection, ct) => DbContextRun.ReadAsync(contexts, connection, read, ct), token, cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="read"/> with a context entered as the tenant on the primary of its shard: for reads that must
    /// see every committed write, such as filling a cache that writes invalidate (as <see cref="ShardRouter.ReadFromPrimaryAsync{T}"/>).
    /// Queries do not track.
    /// </summary>
    /// <typeparam name="TContext">The context type.</typeparam>
    /// <typeparam name="T">What the read returns.</typeparam>
    /// <param name="router">The router.</param>
    /// <param name="contexts">Creates the contexts.</param>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="read">The read.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>What <paramref name="read"/> returned.</returns>
    /// <exception cref="TenantNotFoundException">No such tenant.</exception>
    /// <exception cref="TenantUnavailableException">The tenant's shard cannot serve the read; retry later.</exception>
    public static Task<T> ReadFromPrimaryAsync<TContext, T>(
        this ShardRouter router,
        IDbContextFactory<TContext> contexts,
        TenantId tenantId,
        Func<TContext, CancellationToken, Task<T>> read,
        CancellationToken cancellationToken = default)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(router);
        ArgumentNullException.ThrowIfNull(contexts);
        ArgumentNullException.ThrowIfNull(read);
        return router.ReadFromPrimaryAsync(tenantId, (connection, ct) => DbContextRun.ReadAsync(contexts, connection, read, ct), cancellationToken);
    }
}
