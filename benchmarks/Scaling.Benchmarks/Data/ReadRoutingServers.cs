using Microsoft.Extensions.Options;
using Npgsql;
using Scaling.Data;

namespace Scaling.Benchmarks.Data;

/// <summary>
/// The set-ups the read routing suites share, on shard 1 of the test servers: the plain data source on the replica (the
/// baseline), Npgsql's multi-host data source with <see cref="TargetSessionAttributes.PreferStandby"/> (the peer), and a
/// routed <see cref="ReadWriteDataSource"/> whose replica is checked and has replayed <see cref="Token"/>. Each start
/// checks that reads really go to the replica.
/// </summary>
internal sealed class ReadRoutingServers : IAsyncDisposable
{
    private ReadRoutingServers(Testing.TestServers servers) => Servers = servers;

    public Testing.TestServers Servers { get; }

    public NpgsqlDataSource? Direct { get; private set; }

    public NpgsqlDataSource? PreferStandby { get; private set; }

    public ReadWriteDataSource? Routed { get; private set; }

    public ConsistencyToken Token { get; private set; }

    private NpgsqlMultiHostDataSource? MultiHost { get; set; }

    /// <summary>The servers and a plain data source on the replica.</summary>
    public static async Task<ReadRoutingServers> StartDirectAsync()
    {
        var set = new ReadRoutingServers(await Testing.TestServers.StartAsync());
        set.Direct = NpgsqlDataSource.Create(set.Servers.Shard1Replica.ConnectionString());
        return set;
    }

    /// <summary>
    /// The servers and the peer as Npgsql's failover and load-balancing docs set it up for reads: one multi-host data
    /// source over the primary and the replica (<c>Load Balance Hosts</c> on), used through
    /// <see cref="NpgsqlMultiHostDataSource.WithTargetSession"/> with <see cref="TargetSessionAttributes.PreferStandby"/>.
    /// Its host-state checks stay on (Npgsql's default <c>Host Recheck Seconds</c> of 10).
    /// </summary>
    public static async Task<ReadRoutingServers> StartMultiHostAsync()
    {
        var set = new ReadRoutingServers(await Testing.TestServers.StartAsync());
        var primary = set.Servers.Shard1Primary;
        var replica = set.Servers.Shard1Replica;
        var settings = new NpgsqlConnectionStringBuilder(primary.ConnectionString())
        {
            Host = $"{primary.Host}:{primary.Port},{replica.Host}:{replica.Port}",
            LoadBalanceHosts = true,
        };
        set.MultiHost = new NpgsqlDataSourceBuilder(settings.ConnectionString).BuildMultiHost();
        set.PreferStandby = set.MultiHost.WithTargetSession(TargetSessionAttributes.PreferStandby);
        await using var check = await set.PreferStandby.OpenConnectionAsync();
        await using var inRecovery = new NpgsqlCommand("SELECT pg_is_in_recovery()", check);
        if (await inRecovery.ExecuteScalarAsync() is not true)
        {
            throw new InvalidOperationException("Npgsql's PreferStandby read did not go to the replica.");
        }

        return set;
    }

    /// <summary>The servers and a routed data source (options as <paramref name="configure"/> leaves them) whose replica has replayed the token.</summary>
    public static async Task<ReadRoutingServers> StartRoutedAsync(Action<ScalingDataOptions> configure)
    {
        var set = new ReadRoutingServers(await Testing.TestServers.StartAsync());
        var options = new ScalingDataOptions
        {
            Name = "benchmark",
            PrimaryConnectionString = set.Servers.Shard1Primary.ConnectionString(),
            ReplicaConnectionStrings = { set.Servers.Shard1Replica.ConnectionString() },
        };
        configure(options);
        var routed = set.Routed = new ReadWriteDataSource(Options.Create(options));
        set.Token = await routed.GetConsistencyTokenAsync();
        while (!set.Token.IsReachedBy(await set.Servers.Shard1Replica.GetReplayLsnAsync()))
        {
            await Task.Delay(10);
        }

        await routed.CheckReplicasAsync();
        await using var check = await routed.OpenReadConnectionAsync(set.Token);
        if (check.Port != set.Servers.Shard1Replica.Port)
        {
            throw new InvalidOperationException("The routed read did not go to the replica.");
        }

        return set;
    }

    /// <summary>Disposes what was started, then the servers.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Direct is not null)
        {
            await Direct.DisposeAsync();
        }

        if (MultiHost is not null)
        {
            await MultiHost.DisposeAsync();
        }

        if (Routed is not null)
        {
            await Routed.DisposeAsync();
        }

        await Servers.DisposeAsync();
    }
}
