using System.Reflection;
using Npgsql;
using Scaling.Cache;
using Scaling.Data;
using Scaling.Locks;
using Scaling.RateLimit;
using Scaling.Tenancy;

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

var accessor = new TenantContextAccessor();
using (accessor.BeginScope(new TenantInfo(TenantId.Parse("acme-salon"), "premium")))
{
    Check(accessor.Current?.Id.ToString() == "acme-salon", "Scaling.Tenancy: ambient tenant inside a scope");
}

Check(accessor.Current is null, "Scaling.Tenancy: scope restored");

var connectionString = Environment.GetEnvironmentVariable("ConnectionStrings__Shard1Primary")
    ?? throw new InvalidOperationException("Run under the harness: ConnectionStrings__Shard1Primary is not set.");
await using (var dataSource = NpgsqlDataSource.Create(connectionString))
{
    await using var command = dataSource.CreateCommand("SELECT pg_current_wal_insert_lsn()");
    var lsn = (NpgsqlTypes.NpgsqlLogSequenceNumber)(await command.ExecuteScalarAsync())!;
    var token = ConsistencyToken.FromLsn(lsn);
    Check(ConsistencyToken.Parse(token.ToString()).Lsn == lsn, $"Scaling.Data: consistency token {token} round-trips the primary's LSN {lsn}");
    Check(token.IsReachedBy(lsn) && !token.IsReachedBy(lsn - 1), "Scaling.Data: token reached exactly at its LSN");
}

Check(RedlockTiming.Quorum(3) == 2, "Scaling.Locks: quorum of 3 masters is 2");
Check(CacheKeyValidator.IsValid("tenant:acme:services") && !CacheKeyValidator.IsValid("has space"), "Scaling.Cache: key validation");
Check(RateLimitHeaderFormatter.FormatPolicy(RateLimitTiers.Anonymous) == "\"anonymous\";q=100;w=60", "Scaling.RateLimit: RateLimit-Policy header");

var version = typeof(ConsistencyToken).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
Console.WriteLine($"Scaling package version in use: {version}");
Console.WriteLine(failures.Count == 0 ? "package consumer: all calls succeeded" : $"package consumer: {failures.Count} call(s) failed");
return failures.Count == 0 ? 0 : 1;
