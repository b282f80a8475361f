using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Scaling.Tenancy.Sharding;

/// <summary>
/// The directory shard map: shards and tenant → shard placements kept in a metadata PostgreSQL database under a
/// map epoch, cached in process. Every change bumps the epoch and is pushed to every instance over Redis pub/sub;
/// a periodic epoch check is the safety net; and the router refreshes the map when a shard refuses a route made
/// from a stale copy. When the metadata database is down, routing goes on from the cached map.
/// </summary>
/// <remarks>Create one per process (it is a singleton in DI) and call <see cref="StartAsync"/>; it is thread-safe.</remarks>
public sealed partial class ShardMap : ITenantLookup, IAsyncDisposable
{
    private readonly ScalingTenancyOptions _options;
    private readonly MetadataSchema _schema;
    private readonly NpgsqlDataSource _metadata;
    private readonly RedisConnection? _redis;
    private OrderedSubscription? _subscription;
    private readonly ILogger _logger;
    private readonly Meter? _ownedMeter;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private volatile Snapshot? _snapshot;
    private Task<bool>? _loading;
    private Task<bool>? _missRefresh;

    // Whether the latest epoch check failed (the metadata database did not answer): a tenant missing from the cached
    // map cannot then be reported as not existing.
    private volatile bool _lastCheckFailed;
    private long _missRefreshStarted;
    private Task? _refreshLoop;
    private Task? _started;
    private int _disposed;

    /// <summary>Creates the map. Nothing connects until <see cref="StartAsync"/> or the first lookup.</summary>
    /// <param name="options">The options; validated here (<see cref="OptionsValidationException"/> names each bad option). Outside DI, wrap them with <c>Options.Create</c>.</param>
    /// <param name="logger">The logger; none when <see langword="null"/>.</param>
    /// <param name="meterFactory">Gives the <c>Scaling.Tenancy</c> meter; <see langword="null"/> to create one, disposed with the map.</param>
    public ShardMap(IOptions<ScalingTenancyOptions> options, ILogger<ShardMap>? logger = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var value = options.Value;
        ScalingTenancyOptionsValidator.ThrowIfInvalid(value);
        _options = value;
        _logger = logger ?? NullLogger<ShardMap>.Instance;
        Instruments = TenancyInstruments.For(meterFactory?.Create(TenancyInstruments.MeterName) ?? (_ownedMeter = new Meter(TenancyInstruments.MeterName)));
        _schema = new MetadataSchema(value.MetadataSchema);
        var builder = new NpgsqlDataSourceBuilder(value.MetadataConnectionString);
        builder.ConnectionStringBuilder.Timeout = Math.Max(1, (int)Math.Ceiling(value.MetadataTimeout.TotalSeconds));
        builder.ConnectionStringBuilder.CommandTimeout = Math.Max(1, (int)Math.Ceiling(value.MetadataTimeout.TotalSeconds));
        _metadata = builder.Build();
        if (value.ConnectionMultiplexerFactory is not null || value.RedisConfiguration is not null)
        {
            _redis = new RedisConnection(
                value.ConnectionMultiplexerFactory is null ? ConfigurationOptions.Parse(value.RedisConfiguration!) : null,
                value.ConnectionMultiplexerFactory,
                clientName: "scaling-tenancy",
                onConnected: OnRedisConnected,
                onConnectFailed: e => TenancyLog.SubscribeFailed(_logger, e),
                onRestored: _ => OnRedisRestored());
        }
    }

    /// <summary>The instruments every part of the map's routing records on (router, mover, fan-out).</summary>
    internal TenancyInstruments Instruments { get; }

    /// <summary>Gets the epoch of the cached map; 0 before the first load.</summary>
    public long Epoch => _snapshot?.Epoch ?? 0;

    /// <summary>Gets whether the map has been loaded at least once.</summary>
    public bool IsLoaded => _snapshot is not null;

    /// <summary>Gets when the cached map was last confirmed current with the metadata database (UTC), or <see langword="null"/> before the first load.</summary>
    public DateTimeOffset? LastConfirmed => _snapshot?.Confirmed;

    /// <summary>Gets whether the Redis push of map changes is connected (always <see langword="false"/> without a Redis).</summary>
    public bool IsPushConnected => _redis?.IsConnected ?? false;

    /// <summary>Gets the shards of the cached map, ordered by id.</summary>
    public IReadOnlyList<ShardInfo> Shards => _snapshot?.ShardList ?? [];

    /// <summary>Gets the tenants of the cached map.</summary>
    public IReadOnlyCollection<TenantPlacement> Tenants => _snapshot?.Tenants.Values ?? [];

    internal MetadataSchema Schema => _schema;

    internal NpgsqlDataSource Metadata => _metadata;

    /// <summary>
    /// Creates the map's tables in the metadata database when missing, loads the map, subscribes to the Redis push
    /// and starts the periodic refresh. Calling it again returns the first call's task.
    /// </summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>A task that completes when the map is loaded.</returns>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        lock (_gate)
        {
            if (_started is null || _started.IsFaulted || _started.IsCanceled)
            {
                _started = StartCoreAsync(cancellationToken);
            }

            return _started;
        }
    }

    /// <summary>Finds a tenant in the cached map (no I/O). This is the routing fast path.</summary>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="placement">Its placement when found.</param>
    /// <returns><see langword="true"/> when the cached map has the tenant.</returns>
    public bool TryGetTenant(TenantId tenantId, [NotNullWhen(true)] out TenantPlacement? placement)
    {
        if (_snapshot is { } snapshot && tenantId.Value.Length > 0)
        {
            return snapshot.Tenants.TryGetValue(tenantId.Value, out placement);
        }

        placement = null;
        return false;
    }

    /// <summary>
    /// Finds a tenant, loading the map first if it was never loaded. A tenant the cached map does not have is looked up
    /// once more after an epoch check, so a tenant created a moment ago through another instance (its push still on the
    /// way) is found rather than reported missing. Those checks are shared: at most one per
    /// <see cref="MissRefreshInterval"/> whatever the number of unknown ids asked for, so made-up ids cannot flood the
    /// metadata database.
    /// </summary>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="cancellationToken">Cancels a first load or the wait for the check.</param>
    /// <returns>The placement, or <see langword="null"/> when no such tenant exists.</returns>
    /// <exception cref="TenantUnavailableException">
    /// The map was never loaded and the metadata database cannot be reached; or the tenant is not in the cached map and
    /// the metadata database did not answer the check (down, or silent past <see cref="ScalingTenancyOptions.MetadataTimeout"/>).
    /// </exception>
    public async ValueTask<TenantPlacement?> GetTenantAsync(TenantId tenantId, CancellationToken cancellationToken = default)
    {
        ThrowIfDefault(tenantId);
        if (_snapshot is null)
        {
            await EnsureLoadedAsync(tenantId, cancellationToken).ConfigureAwait(false);
        }

        if (TryGetTenant(tenantId, out var placement))
        {
            return placement;
        }

        Exception? failure = null;
        try
        {
            await RefreshOnMissAsync(cancellationToken).WaitAsync(_options.MetadataTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            // A silent metadata database (paused, partitioned) must not hold the request: the check goes on, shared.
            failure = e;
        }

        if (TryGetTenant(tenantId, out placement))
        {
            return placement;
        }

        if (failure is not null || _lastCheckFailed)
        {
            // Not in the cached map, and the directory could not be asked: it may have been created a moment ago elsewhere.
            throw new TenantUnavailableException(
                tenantId,
                TenantUnavailableReason.DirectoryUnavailable,
                _options.RetryAfter,
                string.Create(CultureInfo.InvariantCulture, $"Tenant '{tenantId}' is not in the cached shard map, and the metadata database did not answer within {_options.MetadataTimeout.TotalMilliseconds:0} ms (ScalingTenancyOptions.MetadataTimeout), so whether it exists cannot be told yet."),
                failure);
        }

        return null;
    }

    /// <inheritdoc />
    public async ValueTask<TenantInfo?> FindAsync(TenantId tenantId, CancellationToken cancellationToken = default)
    {
        if (_snapshot is { } snapshot && snapshot.Tenants.TryGetValue(tenantId.Value, out var cached))
        {
            return cached.Info;
        }

        return (await GetTenantAsync(tenantId, cancellationToken).ConfigureAwait(false))?.Info;
    }

    /// <summary>Finds a shard in the cached map.</summary>
    /// <param name="shardId">The shard's id.</param>
    /// <param name="shard">The shard when found.</param>
    /// <returns><see langword="true"/> when found.</returns>
    public bool TryGetShard(string shardId, [NotNullWhen(true)] out ShardInfo? shard)
    {
        ArgumentNullException.ThrowIfNull(shardId);
        if (_snapshot is { } snapshot)
        {
            return snapshot.Shards.TryGetValue(shardId, out shard);
        }

        shard = null;
        return false;
    }

    /// <summary>
    /// Checks the epoch in the metadata database and reloads the map when it changed. Concurrent calls share one
    /// check. Failures are logged and leave the cached map in place.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait (the shared check goes on).</param>
    /// <returns><see langword="true"/> when the cached map changed; <see langword="false"/> when it was current or the check failed.</returns>
    public Task<bool> RefreshAsync(CancellationToken cancellationToken = default) => RefreshAsync("explicit", cancellationToken);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_refreshLoop is { } loop)
        {
            await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (Interlocked.Exchange(ref _subscription, null) is { } subscription)
        {
            await subscription.DisposeAsync().ConfigureAwait(false); // a shared multiplexer keeps its other subscriptions
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync().ConfigureAwait(false);
        }

        await _metadata.DisposeAsync().ConfigureAwait(false);
        _ownedMeter?.Dispose();
        _stopping.Dispose();
    }

    /// <summary>The least time between two epoch checks made because an unknown tenant was asked for (1 s).</summary>
    internal static TimeSpan MissRefreshInterval { get; } = TimeSpan.FromSeconds(1);

    /// <summary>Joins the running miss check, or the one that finished less than <see cref="MissRefreshInterval"/> ago, or starts one.</summary>
    private Task<bool> RefreshOnMissAsync(CancellationToken cancellationToken)
    {
        Task<bool> check;
        lock (_gate)
        {
            var now = Environment.TickCount64;
            if (_missRefresh is null || (_missRefresh.IsCompleted && now - _missRefreshStarted >= (long)MissRefreshInterval.TotalMilliseconds))
            {
                _missRefreshStarted = now;
                _missRefresh = _loading is { IsCompleted: false } running ? running : _loading = LoadAsync("unknown_tenant", throwOnFailure: false);
            }

            check = _missRefresh;
        }

        return check.WaitAsync(cancellationToken);
    }

    internal async Task<bool> RefreshAsync(string reason, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        Task<bool> loading;
        lock (_gate)
        {
            loading = _loading is { IsCompleted: false } running ? running : _loading = LoadAsync(reason, throwOnFailure: false);
        }

        try
        {
            // Bounded even when the metadata database is connected but silent: the shared check goes on without us.
            return await loading.WaitAsync(_options.MetadataTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>
    /// Runs a change of the map in one metadata transaction: the epoch is bumped first (serializing changes), then
    /// <paramref name="change"/> runs with the new epoch; after the commit the epoch is pushed and the cached map reloaded.
    /// </summary>
    internal async Task<long> ChangeAsync(Func<NpgsqlConnection, long, CancellationToken, Task> change, CancellationToken cancellationToken)
    {
        long epoch;
        var connection = await _metadata.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var transactionLifetime = transaction.ConfigureAwait(false);
            using (var bump = new NpgsqlCommand(_schema.BumpEpochSql, connection))
            {
                epoch = (long)(await bump.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            }

            await change(connection, epoch, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        await PublishAsync(epoch).ConfigureAwait(false);
        await LoadAsync("change", throwOnFailure: false).ConfigureAwait(false);
        return epoch;
    }

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        var connection = await _metadata.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = new NpgsqlCommand(_schema.CreateSql, connection);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await LoadAsync("startup", throwOnFailure: true).WaitAsync(cancellationToken).ConfigureAwait(false);
        _redis?.Start();
        lock (_gate)
        {
            _refreshLoop ??= Task.Run(RefreshLoopAsync, CancellationToken.None);
        }
    }

    private async Task EnsureLoadedAsync(TenantId tenantId, CancellationToken cancellationToken)
    {
        try
        {
            await StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            throw new TenantUnavailableException(
                tenantId,
                TenantUnavailableReason.DirectoryUnavailable,
                _options.RetryAfter,
                $"The shard map has not been loaded yet and the metadata database cannot be reached, so tenant '{tenantId}' cannot be routed.",
                e);
        }
    }

    private async Task RefreshLoopAsync()
    {
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.RefreshInterval, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await ((Task)RefreshAsync("periodic", CancellationToken.None)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Checks the epoch and, when it differs from the cached one, loads the whole map in one snapshot.</summary>
    private async Task<bool> LoadAsync(string reason, bool throwOnFailure)
    {
        var before = _snapshot;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(_options.MetadataTimeout);
            var ct = timeout.Token;
            var connection = await _metadata.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var connectionLifetime = connection.ConfigureAwait(false);
            var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
            await using var transactionLifetime = transaction.ConfigureAwait(false);
            long epoch;
            using (var command = new NpgsqlCommand(_schema.EpochSql, connection))
            {
                epoch = (long)(await command.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            }

            _lastCheckFailed = false;

            if (before is not null && before.Epoch == epoch)
            {
                _snapshot = before with { Confirmed = DateTimeOffset.UtcNow };
                return false;
            }

            var shards = new List<ShardInfo>();
            using (var command = new NpgsqlCommand(_schema.ShardsSql, connection))
            {
                var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        shards.Add(new ShardInfo(reader.GetString(0), reader.GetString(1), reader.GetFieldValue<string[]>(2), ParseShardState(reader.GetString(3))));
                    }
                }
            }

            var tenants = new Dictionary<string, TenantPlacement>(StringComparer.Ordinal);
            using (var command = new NpgsqlCommand(_schema.TenantsSql, connection))
            {
                var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        var id = TenantId.Parse(reader.GetString(0));
                        tenants[id.Value] = new TenantPlacement(
                            id,
                            reader.GetString(1),
                            reader.GetString(2),
                            ParseTenantState(reader.GetString(3)),
                            reader.IsDBNull(4) ? null : reader.GetString(4),
                            reader.GetInt64(5));
                    }
                }
            }

            await transaction.CommitAsync(ct).ConfigureAwait(false);
            var snapshot = new Snapshot(
                epoch,
                shards.ToFrozenDictionary(s => s.Id, StringComparer.Ordinal),
                shards,
                tenants.ToFrozenDictionary(StringComparer.Ordinal),
                DateTimeOffset.UtcNow);
            lock (_gate)
            {
                if (_snapshot is { } current && current.Epoch > epoch)
                {
                    return false;
                }

                _snapshot = snapshot;
            }

            Instruments.MapLoads.Add(1, TenancyInstruments.Tags("reason", reason, "outcome", "loaded"));
            TenancyLog.MapLoaded(_logger, epoch, shards.Count, tenants.Count, reason);
            return true;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or OperationCanceledException or InvalidCastException or FormatException)
        {
            _lastCheckFailed = true;
            Instruments.MapLoads.Add(1, TenancyInstruments.Tags("reason", reason, "outcome", "failed"));
            TenancyLog.MapRefreshFailed(_logger, reason, before?.Epoch ?? 0, e);
            if (throwOnFailure)
            {
                throw;
            }

            return false;
        }
    }

    private async Task PublishAsync(long epoch)
    {
        if (_redis is null)
        {
            return;
        }

        try
        {
            var database = await _redis.DatabaseAsync(_options.MetadataTimeout, CancellationToken.None).ConfigureAwait(false);
            await database
                .PublishAsync(Channel, epoch.ToString(CultureInfo.InvariantCulture))
                .WaitAsync(_options.MetadataTimeout).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException)
        {
            // The other instances catch up by their periodic refresh or on their first stale route.
            TenancyLog.SubscribeFailed(_logger, e);
        }
    }

    private RedisChannel Channel => new(_options.MapChannel, RedisChannel.PatternMode.Literal);

    private async Task OnRedisConnected(IConnectionMultiplexer connection)
    {
        try
        {
            var subscription = await OrderedSubscription.SubscribeAsync(connection, Channel, OnPushed, _options.MetadataTimeout).ConfigureAwait(false);
            if (Interlocked.CompareExchange(ref _subscription, subscription, null) is not null || _disposed != 0)
            {
                await subscription.DisposeAsync().ConfigureAwait(false);
                return;
            }

            _ = RefreshAsync("push", CancellationToken.None);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException)
        {
            // Redis is down at start-up: the map works without the push (periodic refresh, stale routes corrected on
            // use); the next start-up or restore subscribes.
            TenancyLog.SubscribeFailed(_logger, e);
        }
    }

    private void OnRedisRestored()
    {
        if (Volatile.Read(ref _subscription) is null && _redis?.Multiplexer() is { IsCompletedSuccessfully: true } connected)
        {
            _ = OnRedisConnected(connected.Result); // Redis was down at start-up: subscribe now (and check the epoch)
        }
        else
        {
            _ = RefreshAsync("push", CancellationToken.None); // what was pushed while the connection was down is lost: check the epoch now
        }
    }

    private void OnPushed(RedisValue message)
    {
        if (_disposed == 0
            && long.TryParse((string?)message, NumberStyles.None, CultureInfo.InvariantCulture, out var epoch)
            && epoch > Epoch)
        {
            _ = RefreshAsync("push", CancellationToken.None);
        }
    }

    private static ShardState ParseShardState(string text) => text switch
    {
        "open" => ShardState.Open,
        "closed" => ShardState.Closed,
        _ => throw new FormatException($"Unknown shard state {DisplayText.Quote(text)} in the shard map."),
    };

    private static TenantState ParseTenantState(string text) => text switch
    {
        "active" => TenantState.Active,
        "read_only" => TenantState.ReadOnly,
        "moving" => TenantState.Moving,
        _ => throw new FormatException($"Unknown tenant state {DisplayText.Quote(text)} in the shard map."),
    };

    private static void ThrowIfDefault(TenantId tenantId)
    {
        if (tenantId == default)
        {
            throw new ArgumentException("The tenant id is default(TenantId), which is not a tenant id.", nameof(tenantId));
        }
    }

    private sealed record Snapshot(
        long Epoch,
        FrozenDictionary<string, ShardInfo> Shards,
        IReadOnlyList<ShardInfo> ShardList,
        FrozenDictionary<string, TenantPlacement> Tenants,
        DateTimeOffset Confirmed);
}
