namespace BookingHost.Infrastructure;

/// <summary>BookingHost's own settings (configuration section <c>BookingHost</c>).</summary>
public sealed class BookingHostOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "BookingHost";

    /// <summary>Gets or sets the host templates businesses are resolved from, e.g. <c>{tenant}.localhost</c>.</summary>
    public string[] HostTemplates { get; set; } = ["{tenant}.localhost"];

    /// <summary>Gets or sets the schema of the shard map in the metadata database.</summary>
    public string MetadataSchema { get; set; } = "scaling_tenancy";

    /// <summary>Gets or sets the PostgreSQL role tenant transactions run as (row-level security applies to it).</summary>
    public string TenantRole { get; set; } = "booking_tenant";

    /// <summary>Gets or sets whether to create the two demo businesses (one per shard) and demo users at start-up.</summary>
    public bool Seed { get; set; }

    /// <summary>Gets or sets how many months ahead bookings may be made (and booking partitions are kept).</summary>
    public int BookingMonthsAhead { get; set; } = 6;

    /// <summary>
    /// Gets or sets the most connections this instance opens to each shard server (primary and replica alike; Npgsql's
    /// <c>Maximum Pool Size</c>, 100 by default). PostgreSQL does best with a few busy connections per core: with 100
    /// per server, a burst (a cold start, a resumed server) opened hundreds of connections on this 2-core machine,
    /// the database thrashed and the backlog outlived the burst by a minute. A bounded pool queues the excess here
    /// instead, where it costs nothing. It is the pool's minimum too, so a connection once opened is kept: Npgsql prunes
    /// idle connections every <c>Connection Idle Lifetime</c> (5 minutes) by closing the median idle count in one go,
    /// and the next burst then opens them again at once (a fork and an authentication each on the server). On this
    /// 2-core machine that stalled every request for 0.4 to 0.8 s at such pruning rounds in the load test's pause
    /// runs; with nothing to prune, the stall did not come back.
    /// </summary>
    public int ShardMaxPoolSize { get; set; } = 16;

    /// <summary>
    /// Gets or sets how many statements Npgsql prepares automatically on each shard connection (its <c>Max Auto
    /// Prepare</c>; a statement is prepared from its fifth use, Npgsql's <c>Auto Prepare Min Usages</c>). A prepared
    /// statement is parsed and planned once per connection instead of on every execution. Set 0 behind a pooler in
    /// transaction mode that does not keep prepared statements (PgBouncer before 1.21): there a server connection is not
    /// the client's from one transaction to the next.
    /// </summary>
    public int ShardMaxAutoPrepare { get; set; } = 32;

    /// <summary>
    /// Gets or sets whether Npgsql resets the session of a shard connection each time it goes back to the pool (its
    /// <c>No Reset On Close</c>, inverted). With prepared statements kept, that reset is seven statements
    /// (<c>SET SESSION AUTHORIZATION DEFAULT</c>, <c>RESET ALL</c>, <c>CLOSE ALL</c>, <c>UNLISTEN *</c>,
    /// <c>pg_advisory_unlock_all()</c>, <c>DISCARD SEQUENCES</c>, <c>DISCARD TEMP</c>) run before the connection's next
    /// use. BookingHost leaves nothing in a session: a tenant's role, its row-level security setting and every lock are
    /// scoped to the transaction (<c>SET LOCAL</c>, <c>set_config(…, true)</c>, <c>pg_advisory_xact_lock</c>). Off by
    /// default; turn it on if code of yours sets session state on shard connections.
    /// </summary>
    public bool ShardResetOnClose { get; set; }

    /// <summary>
    /// Gets or sets the thread pool's minimum worker threads (0 keeps the runtime's default, one per core). Npgsql cancels
    /// a command that reached its command timeout, or whose token was cancelled, with a request that blocks its thread
    /// until the server hangs up, which a paused server never does: each command left on a silent server ends up holding
    /// a thread until the server resumes (at most <see cref="ShardMaxPoolSize"/> per shard server). Up to this minimum
    /// the pool adds threads at once instead of one or two a second, so those blocked threads do not stall every other
    /// request. In the load test's pause run, a paused primary stalled the whole instance for 14 s, 30 s into the pause
    /// (the command timeout), without it.
    /// </summary>
    public int MinWorkerThreads { get; set; } = 256;

    /// <summary>Gets or sets the largest request body accepted, in bytes (larger: 413).</summary>
    public long MaxRequestBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Gets or sets the prefix of the rate-limit keys in Redis (deployments sharing a Redis use different prefixes).</summary>
    public string RateLimitKeyPrefix { get; set; } = "rl:";

    /// <summary>
    /// Gets or sets how many permits an instance may reserve in Redis ahead of use per rate-limited key set, and then
    /// admit without a Redis call (<c>ScalingRateLimitOptions.MaxReservedPermits</c>; 0: every request is checked in
    /// Redis). Never admits over a limit; a client may be held slightly below it. Default 1,000.
    /// </summary>
    public int RateLimitReservedPermits { get; set; } = 1000;

    /// <summary>Gets or sets the requests per minute of an anonymous client (per IP).</summary>
    public int AnonymousPerMinute { get; set; } = 100;

    /// <summary>Gets or sets the requests per minute of a signed-in user.</summary>
    public int AuthenticatedPerMinute { get; set; } = 1000;

    /// <summary>Gets or sets the requests per minute of a premium user (a premium business's staff included).</summary>
    public int PremiumPerMinute { get; set; } = 5000;

    /// <summary>Gets or sets the requests per day shared by all signed-in staff of a business on the basic plan.</summary>
    public int BasicBusinessPerDay { get; set; } = 200_000;

    /// <summary>Gets or sets the requests per day shared by all signed-in staff of a business on the premium plan.</summary>
    public int PremiumBusinessPerDay { get; set; } = 2_000_000;
}
