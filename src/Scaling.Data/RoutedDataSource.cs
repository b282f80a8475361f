using System.Data.Common;

namespace Scaling.Data;

/// <summary>
/// A <see cref="DbDataSource"/> over a <see cref="ReadWriteDataSource"/>, for ADO.NET code that takes a data source
/// (Dapper, EF Core, <c>DbDataSource.CreateCommand</c>): its connections are the write connections or the routed read
/// connections of the owner, with the same health and lag rules. It owns nothing: disposing it does nothing; the owner's
/// servers stay open.
/// </summary>
/// <param name="owner">The data source whose routing is used.</param>
/// <param name="forWrites">True: every connection goes to the primary; false: reads, routed with <paramref name="token"/>.</param>
/// <param name="token">The consistency token every read must see, or <see langword="null"/>.</param>
internal sealed class RoutedDataSource(ReadWriteDataSource owner, bool forWrites, ConsistencyToken? token) : DbDataSource
{
    /// <summary>The primary's connection string (without its password, as Npgsql gives it); a read may be served by a replica.</summary>
    public override string ConnectionString => owner.Primary.ConnectionString;

    /// <summary>An unopened connection, routed now from what the health monitor knows (see <see cref="ReadWriteDataSource.ForReads"/>).</summary>
    protected override DbConnection CreateDbConnection() =>
        forWrites ? owner.Primary.CreateConnection() : owner.CreateRoutedReadConnection(token);

    protected override async ValueTask<DbConnection> OpenDbConnectionAsync(CancellationToken cancellationToken = default) =>
        forWrites
            ? await owner.OpenWriteConnectionAsync(cancellationToken).ConfigureAwait(false)
            : await owner.OpenReadConnectionAsync(token, cancellationToken).ConfigureAwait(false);
}
