using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Scaling.EntityFrameworkCore;

/// <summary>
/// Runs a caller's work on a context lent the connection (and transaction) that the router or data source opened, then
/// takes both back, so a pooled context returns to its pool holding no connection, no transaction and no tracked entity.
/// </summary>
internal static class DbContextRun
{
    /// <summary>The work inside the open <paramref name="transaction"/>; pending changes are saved before it returns (the caller commits).</summary>
    internal static Task<T> WriteAsync<TContext, T>(
        IDbContextFactory<TContext> contexts,
        NpgsqlTransaction transaction,
        Func<TContext, CancellationToken, Task<T>> write,
        CancellationToken cancellationToken)
        where TContext : DbContext
        => RunAsync(contexts, transaction.Connection!, transaction, async (context, ct) =>
        {
            var value = await write(context, ct).ConfigureAwait(false);
            if (context.ChangeTracker.HasChanges())
            {
                await context.SaveChangesAsync(ct).ConfigureAwait(false);
            }

            return value;
        }, cancellationToken);

    /// <summary>The read on the open <paramref name="connection"/> (inside the router's tenant transaction, when there is one); queries do not track.</summary>
    internal static Task<T> ReadAsync<TContext, T>(
        IDbContextFactory<TContext> contexts,
        NpgsqlConnection connection,
        Func<TContext, CancellationToken, Task<T>> read,
        CancellationToken cancellationToken)
        where TContext : DbContext
        => RunAsync(contexts, connection, transaction: null, (context, ct) =>
        {
            // A read: nothing it tracks may be saved later through this connection.
            context.ChangeTracker.QueryTrackingBehavior = QueryTrackingBehavior.NoTracking;
            return read(context, ct);
        }, cancellationToken);

    /// <summary>Creates a context, lends it the connection (and transaction), runs <paramref name="work"/>, and takes both back.</summary>
    private static async Task<T> RunAsync<TContext, T>(
        IDbContextFactory<TContext> contexts,
        NpgsqlConnection connection,
        NpgsqlTransaction? transaction,
        Func<TContext, CancellationToken, Task<T>> work,
        CancellationToken cancellationToken)
        where TContext : DbContext
    {
        var context = await contexts.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        await using (context.ConfigureAwait(false))
        {
            Lend(context, connection);
            try
            {
                if (transaction is not null)
                {
                    await context.Database.UseTransactionAsync(transaction, cancellationToken).ConfigureAwait(false);
                }

                return await work(context, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                if (transaction is not null)
                {
                    await context.Database.UseTransactionAsync(null, CancellationToken.None).ConfigureAwait(false);
                }

                TakeBack(context);
            }
        }
    }

    private static void Lend(DbContext context, NpgsqlConnection connection)
    {
        if (context.Database.GetDbConnection() is { State: not System.Data.ConnectionState.Closed } held && !ReferenceEquals(held, connection))
        {
            throw new InvalidOperationException(
                $"The {context.GetType().Name} from the factory already holds an open connection; configure it with UseNpgsql() and no connection string or data source, so that Scaling routes it.");
        }

        context.Database.SetDbConnection(connection, contextOwnsConnection: false);
    }

    private static void TakeBack(DbContext context)
    {
        context.ChangeTracker.Clear();
        context.Database.SetDbConnection(null, contextOwnsConnection: false);
    }
}
