using Microsoft.Extensions.Options;
using Npgsql;
using Scaling.Data;

namespace BookingHost.Auth;

/// <summary>
/// The metadata database, as the auth area uses it (users and refresh tokens live there): a Scaling.Data source with
/// no replica, whose health monitor bounds every wait on it. A metadata database that stops answering (paused, cut
/// off) fails sign-ins and refreshes within its probe timeout plus one interval (a 503), not after Npgsql's timeouts.
/// </summary>
internal sealed class AuthDatabase : IAsyncDisposable
{
    private readonly ReadWriteDataSource _data;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _monitor;

    public AuthDatabase(IConfiguration configuration, IOptions<Infrastructure.BookingHostOptions> host, ILoggerFactory loggerFactory, System.Diagnostics.Metrics.IMeterFactory meterFactory)
    {
        var connectionString = configuration.GetConnectionString("Metadata")
            ?? throw new InvalidOperationException("ConnectionStrings:Metadata is required (users and refresh tokens live in the metadata database).");
        var maxPoolSize = host.Value.ShardMaxPoolSize;
        _data = new ReadWriteDataSource(
            Options.Create(new ScalingDataOptions
            {
                Name = "auth",
                PrimaryConnectionString = connectionString,

                // Never run a piece of auth work twice: a rotation or sign-up whose connection was lost has an unknown
                // outcome, and the client's retry decides (a reused refresh token revokes its family, as it must).
                MaxRetryAttempts = 0,
                ConfigureDataSource = (builder, _) => builder.ConnectionStringBuilder.MaxPoolSize = maxPoolSize,
            }),
            loggerFactory,
            meterFactory);
        _monitor = Task.Run(() => _data.MonitorAsync(_stopping.Token));
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a connection to the metadata database. It runs once (never retried). When the
    /// database stops answering, the caller stops waiting within the health monitor's bound.
    /// </summary>
    /// <typeparam name="T">What the work returns.</typeparam>
    /// <param name="work">The work; the connection is disposed after it returns.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <returns>What <paramref name="work"/> returned.</returns>
    /// <exception cref="PrimaryUnavailableException">The database is down or not answering; nothing was sent.</exception>
    /// <exception cref="TimeoutException">The database stopped answering during the work; a write's outcome is unknown.</exception>
    public Task<T> RunAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
        => _data.ReadFromPrimaryAsync(work, cancellationToken);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _monitor.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _data.DisposeAsync();
        _stopping.Dispose();
    }
}
