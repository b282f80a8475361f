using Npgsql;

namespace BookingHost.Auth;

/// <summary>The metadata database connection pool of the auth area (users and refresh tokens live there).</summary>
internal sealed class AuthDatabase(IConfiguration configuration) : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(
        configuration.GetConnectionString("Metadata")
            ?? throw new InvalidOperationException("ConnectionStrings:Metadata is required (users and refresh tokens live in the metadata database)."));

    /// <summary>Opens a connection.</summary>
    public ValueTask<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken) => _dataSource.OpenConnectionAsync(cancellationToken);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
