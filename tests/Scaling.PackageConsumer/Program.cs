using System.Reflection;
using Microsoft.Extensions.Options;
using Npgsql;
using Scaling.Cache;
using Scaling.Data;
using Scaling.Locks;
using Scaling.RateLimit;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;
using StackExchange.Redis;
#if FUSIONCACHE
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
#endif

// Real calls into each package, referenced from NuGet; run under the test-server harness so the
// Scaling.Data call works on a real PostgreSQL WAL position (Npgsql arrives as Scaling.Data's dependency).
var failures = new List<string>();
void Check(bool condition, string what)
{
    Console.WriteLine($"{(condition ? "ok  " : "FAIL")} {what}");
    if (!condition)
    {
        failures.Add(what);
    }
}

// The StackExchange.Redis this application runs on is the one it asked for (the packages only set a minimum).
var expectedRedis = typeof(Program).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ConsumerRedisVersion").Value!;
var redisInUse = typeof(ConnectionMultiplexer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?";
Check(redisInUse.StartsWith(expectedRedis, StringComparison.Ordinal), $"StackExchange.Redis in use: {redisInUse} (the application's {expectedRedis})");

var accessor = new TenantContextAccessor();
using (accessor.BeginScope(new TenantInfo(TenantId.Parse("acme-salon"), "premium")))
{
    Check(accessor.Current?.Id.ToString() == "acme-salon", "Scaling.Tenancy: ambient tenant inside a scope");
}

Check(accessor.Current is null, "Scaling.Tenancy: scope restored");

var connectionString = Environment.GetEnvironmentVariable("ConnectionStrings__Shard1Primary")
    ?? throw new InvalidOperationException("Run under the harness: ConnectionStrings__Shard1Primary is not set.");
var replicaConnectionString = Environment.GetEnvironmentVariable("ConnectionStrings__Shard1Replica")
    ?? throw new InvalidOperationException("Run under the harness: ConnectionStrings__Shard1Replica is not set.");
var dataOptions = new ScalingDataOptions { Name = "consumer", PrimaryConnectionString = connectionString };
dataOptions.ReplicaConnectionStrings.Add(replicaConnectionString);
await using (var data = new ReadWriteDataSource(Options.Create(dataOptions)))
{
    await data.CheckReplicasAsync();
    Check(data.GetReplicaStatuses()[0].Health == ReplicaHealth.Healthy, "Scaling.Data: the replica is checked and healthy");
    var written = await data.WriteAsync(async (tx, ct) =>
    {
        await using var create = new NpgsqlCommand("CREATE TABLE IF NOT EXISTS consumer_smoke (id int); INSERT INTO consumer_smoke VALUES (1)", tx.Connection, tx);
        return await create.ExecuteNonQueryAsync(ct);
    });
    var token = written.Token ?? throw new InvalidOperationException("no consistency token after the commit");
    Check(ConsistencyToken.Parse(token.ToString()) == token, $"Scaling.Data: consistency token {token} round-trips its text form");
    var seen = await data.ReadAsync(async (connection, ct) =>
    {
        await using var count = new NpgsqlCommand("SELECT count(*) FROM consumer_smoke", connection);
        return (long)(await count.ExecuteScalarAsync(ct))!;
    }, token);
    Check(seen >= 1, "Scaling.Data: a read with the token sees the write");
}

Check(RedlockTiming.Quorum(3) == 2, "Scaling.Locks: quorum of 3 masters is 2");
var lockMasters = Environment.GetEnvironmentVariable("ConnectionStrings__RedisLockMasters")
    ?? throw new InvalidOperationException("Run under the harness: ConnectionStrings__RedisLockMasters is not set.");
var lockOptions = new ScalingLocksOptions();
lockOptions.AddEndpoints(lockMasters);
await using (var locks = new RedlockProvider(Options.Create(lockOptions)))
{
    var held = await locks.TryAcquireDetailedAsync("consumer-smoke", TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5));
    Check(held.Status == LockAttemptStatus.Acquired && held.Handle is not null, $"Scaling.Locks: Redlock acquired on {held.Nodes.Count} masters");
    var second = await locks.TryAcquireAsync("consumer-smoke", TimeSpan.FromSeconds(10), TimeSpan.Zero);
    Check(second is null, "Scaling.Locks: a second acquirer is refused while the lock is held");
    await held.Handle!.DisposeAsync();
    await using var again = await locks.TryAcquireAsync("consumer-smoke", TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5));
    Check(again is not null, "Scaling.Locks: the lock is free again after release");
}

await using (var fenceDatabase = NpgsqlDataSource.Create(connectionString))
{
    // Fencing tokens and the one-batch check, as a write sent in one round trip uses them.
    var fences = new PostgresFencingTokenSource(fenceDatabase);
    var resource = "consumer-fence-" + Guid.NewGuid().ToString("N");
    var first = await fences.NextAsync(resource);
    var latest = await fences.NextAsync(resource);
    await using var current = fenceDatabase.CreateBatch();
    current.BatchCommands.Add(FencingGuard.CreateCheckCommand(resource, latest));
    Check(await current.ExecuteScalarAsync() is long checkedToken && checkedToken == latest, "Scaling.Locks: the batch check passes the latest token");
    await using var stale = fenceDatabase.CreateBatch();
    stale.BatchCommands.Add(FencingGuard.CreateCheckCommand(resource, first));
    StaleFencingTokenException? rejected = null;
    try
    {
        await stale.ExecuteNonQueryAsync();
    }
    catch (PostgresException e) when (FencingGuard.TryGetStaleToken(e, out var translated))
    {
        rejected = translated;
    }

    Check(rejected is { LatestToken: var l } && l == latest, "Scaling.Locks: the batch check rejects a stale token (StaleFencingTokenException)");
}
Check(CacheKeyValidator.IsValid("tenant:acme:services") && !CacheKeyValidator.IsValid("has space"), "Scaling.Cache: key validation");
var redis = Environment.GetEnvironmentVariable("ConnectionStrings__Redis")
    ?? throw new InvalidOperationException("Run under the harness: ConnectionStrings__Redis is not set.");
var cacheOptions = Microsoft.Extensions.Options.Options.Create(new ScalingCacheOptions { RedisConfiguration = redis, KeyPrefix = "consumer:" });
await using (var writer = new TwoTierCache(cacheOptions))
await using (var reader = new TwoTierCache(cacheOptions))
{
    var deadline = DateTime.UtcNow.AddSeconds(10);
    while (!(writer.IsBackplaneConnected && reader.IsBackplaneConnected) && DateTime.UtcNow < deadline)
    {
        await Task.Delay(20);
    }

    await Task.Delay(100);
    var key = TenantCacheKeys.Key("acme-salon", "services");
    await writer.SetAsync(key, "cut, colour");
    var fromL2 = await reader.GetOrCreateAsync(key, _ => ValueTask.FromResult("factory"));
    Check(fromL2 == "cut, colour", "Scaling.Cache: a second instance reads the value from Redis");
    await writer.SetAsync(key, "cut, colour, shave");
    var seenNew = false;
    for (var i = 0; i < 100 && !seenNew; i++)
    {
        seenNew = await reader.GetOrCreateAsync(key, _ => ValueTask.FromResult("factory")) == "cut, colour, shave";
        await Task.Delay(seenNew ? 0 : 10);
    }

    Check(seenNew, "Scaling.Cache: the update reached the other instance's L1 over the backplane");
    await writer.RemoveTenantAsync("acme-salon");
    var afterDrop = "";
    for (var i = 0; i < 100 && afterDrop != "recomputed"; i++)
    {
        afterDrop = await reader.GetOrCreateAsync(key, _ => ValueTask.FromResult("recomputed"));
        await Task.Delay(afterDrop == "recomputed" ? 0 : 10);
    }

    Check(afterDrop == "recomputed", "Scaling.Cache: dropping the tenant invalidated its entries on the other instance");
}

Check(RateLimitHeaderFormatter.FormatPolicy(RateLimitTiers.Anonymous) == "\"anonymous\";q=100;w=60", "Scaling.RateLimit: RateLimit-Policy header");
await using (var limiter = new RedisRateLimiter(Options.Create(new ScalingRateLimitOptions { RedisConfiguration = redis, KeyPrefix = "consumer-rl:" })))
{
    Check(await limiter.ConnectAsync(), "Scaling.RateLimit: connected to Redis");
    var burst = new RateLimitTier("consumer-burst", 3, TimeSpan.FromSeconds(60));
    var daily = new RateLimitTier("consumer-daily", 1000, TimeSpan.FromDays(1));
    var check = new RateLimitCheck("t:acme-salon", "anonymous").Add(burst, "ip:127.0.0.1").Add(daily);
    var decisions = new List<RateLimitDecision>();
    for (var i = 0; i < 4; i++)
    {
        decisions.Add(await limiter.CheckAsync(check));
    }

    Check(decisions.Take(3).All(d => d.IsAllowed && !d.IsDegraded), "Scaling.RateLimit: three requests admitted by both policies in Redis");
    Check(!decisions[3].IsAllowed && decisions[3].RejectedBy == "consumer-burst" && decisions[3].RetryAfter > TimeSpan.Zero, "Scaling.RateLimit: the fourth is rejected by the burst policy with a Retry-After");
}

// Scaling.Tenancy: a shard map in the metadata database, two shards, a tenant moved between them.
var metadata = Environment.GetEnvironmentVariable("ConnectionStrings__Metadata")
    ?? throw new InvalidOperationException("Run under the harness: ConnectionStrings__Metadata is not set.");
var shard2 = Environment.GetEnvironmentVariable("ConnectionStrings__Shard2Primary")
    ?? throw new InvalidOperationException("Run under the harness: ConnectionStrings__Shard2Primary is not set.");
var tenancyOptions = new ScalingTenancyOptions
{
    MetadataConnectionString = metadata,
    MetadataSchema = "consumer_map",
    RedisConfiguration = Environment.GetEnvironmentVariable("ConnectionStrings__Redis"),
    TenantRole = "scaling_tenant",
};
tenancyOptions.TenantTables.Add("consumer_notes");
await using (var map = new ShardMap(Options.Create(tenancyOptions)))
await using (var router = new ShardRouter(Options.Create(tenancyOptions), map))
{
    var admin = new TenantAdministration(router);
    await admin.AddShardAsync(new ShardInfo("shard-1", connectionString, [replicaConnectionString]));
    await admin.AddShardAsync(new ShardInfo("shard-2", shard2));
    var table = $"CREATE TABLE IF NOT EXISTS consumer_notes (tenant_id text NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), body text, PRIMARY KEY (tenant_id, id)); {RowLevelSecurity.EnableSql("consumer_notes", "scaling_tenant")}";
    foreach (var shard in new[] { connectionString, shard2 })
    {
        await using var setup = NpgsqlDataSource.Create(shard);
        await using var command = setup.CreateCommand(table);
        await command.ExecuteNonQueryAsync();
    }

    var salon = TenantId.Parse("salon-" + Guid.NewGuid().ToString("N")[..8]);
    var placed = await admin.CreateTenantAsync(salon, "premium");
    Check(placed.ShardId is "shard-1" or "shard-2" && map.Epoch > 1, $"Scaling.Tenancy: tenant placed on {placed.ShardId} at map epoch {map.Epoch}");
    await router.WriteAsync(salon, async (tx, ct) =>
    {
        await using var insert = new NpgsqlCommand("INSERT INTO consumer_notes (tenant_id, body) VALUES ($1, 'hello')", tx.Connection, tx);
        insert.Parameters.Add(new() { Value = salon.Value });
        return await insert.ExecuteNonQueryAsync(ct);
    });
    var target = placed.ShardId == "shard-1" ? "shard-2" : "shard-1";
    var moved = await new TenantMover(router).MoveAsync(salon, target);
    Check(moved.RowsCopied == 1 && moved.SourceCleanedUp, $"Scaling.Tenancy: tenant moved to {target}, writes paused {moved.WritePause.TotalMilliseconds:0.0} ms");
    var visible = await router.ReadAsync(salon, async (connection, ct) =>
    {
        await using var count = new NpgsqlCommand("SELECT count(*) FROM consumer_notes", connection);
        return (long)(await count.ExecuteScalarAsync(ct))!;
    });
    Check(visible == 1, "Scaling.Tenancy: after the move the tenant reads its row (row-level security hides every other tenant's)");
}

// The application's own multiplexer, shared by every package: each works on it and none closes it.
await using (var shared = await ConnectionMultiplexer.ConnectAsync(redis + ",name=consumer-app"))
{
    Func<Task<IConnectionMultiplexer>> factory = () => Task.FromResult<IConnectionMultiplexer>(shared);
    var sharedCache = Microsoft.Extensions.Options.Options.Create(new ScalingCacheOptions { ConnectionMultiplexerFactory = factory, KeyPrefix = "consumer-shared:" });
    await using (var one = new TwoTierCache(sharedCache))
    await using (var two = new TwoTierCache(sharedCache))
    await using (var limiter = new RedisRateLimiter(Options.Create(new ScalingRateLimitOptions { ConnectionMultiplexerFactory = factory, KeyPrefix = "consumer-shared-rl:" })))
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!(one.IsBackplaneConnected && two.IsBackplaneConnected) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        await Task.Delay(100);
        await one.SetAsync("menu", "v1");
        Check(await two.GetOrCreateAsync("menu", _ => ValueTask.FromResult("factory")) == "v1", "shared multiplexer: Scaling.Cache reads another instance's value");
        await one.SetAsync("menu", "v2");
        var seen = "";
        for (var i = 0; i < 100 && seen != "v2"; i++)
        {
            seen = await two.GetOrCreateAsync("menu", _ => ValueTask.FromResult("factory"));
            await Task.Delay(seen == "v2" ? 0 : 10);
        }

        Check(seen == "v2", "shared multiplexer: Scaling.Cache's backplane invalidated the other instance");
        Check(await limiter.ConnectAsync() && !(await limiter.CheckAsync(new RateLimitCheck("shared", "test").Add(new RateLimitTier("shared", 10, TimeSpan.FromMinutes(1))))).IsDegraded, "shared multiplexer: Scaling.RateLimit counts in Redis");
    }

#if FUSIONCACHE
    // FusionCache with its Redis backplane on the same multiplexer, beside Scaling.Cache.
    using var fusionA = new FusionCache(new FusionCacheOptions { CacheName = "consumer-fusion" });
    using var fusionB = new FusionCache(new FusionCacheOptions { CacheName = "consumer-fusion" });
    fusionA.SetupBackplane(new RedisBackplane(new RedisBackplaneOptions { ConnectionMultiplexerFactory = factory }));
    fusionB.SetupBackplane(new RedisBackplane(new RedisBackplaneOptions { ConnectionMultiplexerFactory = factory }));
    Check(await fusionB.GetOrSetAsync("menu", _ => Task.FromResult("b-local")) == "b-local", "FusionCache: B caches its own value");
    await Task.Delay(200); // both backplanes subscribed
    await fusionA.SetAsync("menu", "a-value");
    var fusionSeen = "";
    for (var i = 0; i < 200 && fusionSeen != "refetched"; i++)
    {
        fusionSeen = await fusionB.GetOrSetAsync("menu", _ => Task.FromResult("refetched"));
        await Task.Delay(fusionSeen == "refetched" ? 0 : 10);
    }

    Check(fusionSeen == "refetched", "FusionCache: A's set evicted B's entry over its Redis backplane, beside the Scaling packages");
#endif

    Check(shared.IsConnected && (await shared.GetDatabase().PingAsync()) >= TimeSpan.Zero, "shared multiplexer: still open after the packages were disposed");
}

var version = typeof(ConsistencyToken).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
Console.WriteLine($"Scaling package version in use: {version}");
Console.WriteLine(failures.Count == 0 ? "package consumer: all calls succeeded" : $"package consumer: {failures.Count} call(s) failed");
return failures.Count == 0 ? 0 : 1;
