using StackExchange.Redis;
using Scaling.Data;
using Scaling.Tenancy.Sharding;

namespace Scaling.Tenancy;

/// <summary>Options of the shard map, the shard router and tenant moves (<c>services.AddScalingTenancy(...)</c>).</summary>
public sealed class ScalingTenancyOptions
{
    /// <summary>The configuration section conventionally bound to these options.</summary>
    public const string SectionName = "Scaling:Tenancy";

    /// <summary>Gets or sets the Npgsql connection string of the metadata database that holds the shard map. Required.</summary>
    public string? MetadataConnectionString { get; set; }

    /// <summary>Gets or sets the schema of the shard map's tables in the metadata database; <c>scaling_tenancy</c> by default.</summary>
    public string MetadataSchema { get; set; } = "scaling_tenancy";

    /// <summary>
    /// Gets or sets the StackExchange.Redis configuration string of the Redis that pushes map changes to every instance
    /// (pub/sub). When <see langword="null"/>, instances learn of changes only from <see cref="RefreshInterval"/> and
    /// from stale routes detected on use.
    /// </summary>
    public string? RedisConfiguration { get; set; }

    /// <summary>
    /// Gets or sets the application's own multiplexer for the push (taking precedence over
    /// <see cref="RedisConfiguration"/>), as in <c>Microsoft.Extensions.Caching.StackExchangeRedis</c>: the map never
    /// closes it nor changes its settings.
    /// </summary>
    public Func<Task<IConnectionMultiplexer>>? ConnectionMultiplexerFactory { get; set; }

    /// <summary>Gets or sets the Redis pub/sub channel of map changes; <c>scaling:tenancy:map</c> by default.</summary>
    public string MapChannel { get; set; } = "scaling:tenancy:map";

    /// <summary>Gets or sets how often the map's epoch is checked in the metadata database (the safety net behind the push); 30 s by default.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the timeout of one load of the map from the metadata database; 5 s by default.</summary>
    public TimeSpan MetadataTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets or sets the PostgreSQL role tenant transactions run as (<c>SET LOCAL ROLE</c>), so that row-level security
    /// applies even when the shard connection strings use a superuser; it is created (NOLOGIN) when missing. When
    /// <see langword="null"/> (the default) the connection's own role is used, and it must not bypass row-level
    /// security (a superuser or BYPASSRLS role is refused when the shard is first used).
    /// </summary>
    public string? TenantRole { get; set; }

    /// <summary>
    /// Gets or sets the tables that hold tenant rows (each with a <c>tenant_id text</c> column and a primary key), in
    /// an order where a table comes after the tables it references. Tenant moves copy exactly these tables.
    /// </summary>
    public IList<string> TenantTables { get; } = new List<string>();

    /// <summary>Gets or sets the <c>Retry-After</c> given with a <see cref="TenantUnavailableException"/>; 1 s by default.</summary>
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Gets or sets the longest a move may keep the tenant's writes fenced for its final catch-up; when the catch-up
    /// takes longer the move is rolled back and writes resume on the source. 5 s by default.
    /// </summary>
    public TimeSpan MaxMoveWritePause { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets or sets the number of changed rows below which a move stops catching up with writes fenced open and
    /// fences them for the final round; 200 by default.
    /// </summary>
    public int MoveFenceThreshold { get; set; } = 200;

    /// <summary>Gets or sets a callback that adjusts the Scaling.Data options of each shard before its <see cref="ReadWriteDataSource"/> is created (credentials, lag thresholds, timeouts).</summary>
    public Action<ShardInfo, ScalingDataOptions>? ConfigureShard { get; set; }
}
