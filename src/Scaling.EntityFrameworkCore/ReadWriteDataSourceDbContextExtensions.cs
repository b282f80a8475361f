using System.Data;
using Microsoft.EntityFrameworkCore;
using Scaling.EntityFrameworkCore;

namespace Scaling.Data;

/// <summary>
/// EF Core on one database cluster without tenants: a <see cref="DbContext"/> from your factory writes on the primary
/// (and the call returns the read-your-writes token) or reads on a replica that has reached a token.
/// </summary>
/// <remarks>
/// Configure the context with <c>UseNpgsql()</c> and no connection string or data source: each call lends it the connection
/// (and transaction) the data source opened, and takes them back before the context is disposed. For code that builds its
/// own context per request, <c>UseNpgsql(dataSource.ForReads(token))</c> and <c>UseNpgsql(dataSource.ForWrites())</c> route too.
/// </remarks>
public static class ReadWriteDataSourceDbContextExtensions
{
    /// <summary>
    /// Runs <paramref name="write"/> with a context in a transaction on the primary; saves what it left pending, commits,
    /// and returns the token. Retries as <see cref="ReadWriteDataSource.WriteAsync{T}"/> does.
    /// </summary>
    /// <typeparam name="TContext">The context type.</typeparam>
    /// <typeparam name="T">What the write returns.</typeparam>
    /// <param name="dataSource">The data source.</param>
    /// <param name="contexts">Creates the contexts (for example from <c>AddPooledDbContextFactory</c>).</param>
    /// <param name="write">The work; it may call <c>SaveChangesAsync</c> itself. It must not commit, roll back or open another transaction.</param>
    /// <param name="idempotent">Whether running the write twice is harmless (allows a retry after a lost connection).</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>What <paramref name="write"/> returned, and the token a later read passes to see it.</returns>
    /// <exception cref="PrimaryUnavailableException">The primary cannot be reached; nothing was written.</exception>
    public static Task<WriteResult<T>> WriteAsync<TContext, T>(
        this ReadWriteDataSource dataSource,
        IDbContextFactory<TContext> contexts,
        Func<TContext, CancellationToken, Task<T>> write,
        bool idempotent = false,
        CancellationToken cancellationToken = default)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(contexts);
        ArgumentNullException.ThrowIfNull(write);
        return dataSource.WriteAsync(
            (transaction, ct) => DbContextRun.WriteAsync(contexts, transaction, write, ct),
            idempotent,
            IsolationLevel.ReadCommitted,
            cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="read"/> with a context on a replica that has reached <paramref name="token"/>, or on the primary
    /// (as <see cref="ReadWriteDataSource.ReadAsync{T}"/> routes). Queries do not track.
    /// </summary>
    /// <typeparam name="TContext">The context type.</typeparam>
    /// <typeparam name="T">What the read returns.</typeparam>
    /// <param name="dataSource">The data source.</param>
    /// <param name="contexts">Creates the contexts.</param>
    /// <param name="read">The read; it may run more than once (on another server after a failure).</param>
    /// <param name="token">The token of the caller's last write, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>What <paramref name="read"/> returned.</returns>
    /// <exception cref="ReadCapacityExceededException">No replica could serve the read and the primary is at its fallback bound.</exception>
    public static Task<T> ReadAsync<TContext, T>(
        this ReadWriteDataSource dataSource,
        IDbContextFactory<TContext> contexts,
        Func<TContext, CancellationToken, Task<T>> read,
        ConsistencyToken? token = null,
        CancellationToken cancellationToken = default)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(contexts);
        ArgumentNullException.ThrowIfNull(read);
        return dataSource.ReadAsync((connection, ct) => DbContextRun.ReadAsync(contexts, connection, read, ct), token, cancellationToken);
    }
}
