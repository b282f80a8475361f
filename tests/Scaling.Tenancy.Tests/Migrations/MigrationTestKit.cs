using Npgsql;
using Scaling.Tenancy.Migrations;
using Scaling.Testing;

namespace Scaling.Tenancy.Tests.Migrations;

/// <summary>
/// The three migration targets over the test servers (metadata, shard 1's primary, shard 2's primary), each test with
/// its own history table and its own table-name prefix so tests never see each other's migrations.
/// </summary>
internal sealed class MigrationTestKit : IAsyncDisposable
{
    private readonly List<NpgsqlDataSource> _dataSources = [];

    public MigrationTestKit(Testing.TestServers servers)
    {
        Servers = servers;
        Prefix = "m" + Guid.NewGuid().ToString("N")[..10];
        HistoryTable = "h_" + Prefix;
        Metadata = Target("metadata", MigrationTargetKind.Metadata, servers.Metadata);
        Shard1 = Target("shard-1", MigrationTargetKind.Shard, servers.Shard1Primary);
        Shard2 = Target("shard-2", MigrationTargetKind.Shard, servers.Shard2Primary);
    }

    public Testing.TestServers Servers { get; }

    /// <summary>Prefix of every table this test creates (unique per test).</summary>
    public string Prefix { get; }

    /// <summary>This test's history table (in the default schema).</summary>
    public string HistoryTable { get; }

    public MigrationTarget Metadata { get; }

    public MigrationTarget Shard1 { get; }

    public MigrationTarget Shard2 { get; }

    public IReadOnlyList<MigrationTarget> All => [Metadata, Shard1, Shard2];

    /// <summary>The same targets over new data sources (separate pools, so separate connections), for a second runner.</summary>
    public IReadOnlyList<MigrationTarget> SecondSet() =>
    [
        Target("metadata", MigrationTargetKind.Metadata, Servers.Metadata),
        Target("shard-1", MigrationTargetKind.Shard, Servers.Shard1Primary),
        Target("shard-2", MigrationTargetKind.Shard, Servers.Shard2Primary),
    ];

    public MigrationRunnerOptions Options(Action<MigrationRunnerOptions>? configure = null)
    {
        var options = new MigrationRunnerOptions { HistoryTable = HistoryTable, LockTimeout = TimeSpan.FromSeconds(30), CommandTimeout = TimeSpan.FromSeconds(30) };
        configure?.Invoke(options);
        return options;
    }

    public MigrationRunner Runner(Action<MigrationRunnerOptions>? configure = null) => new(Microsoft.Extensions.Options.Options.Create(Options(configure)));

    /// <summary>A table name unique to this test.</summary>
    public string T(string name) => $"{Prefix}_{name}";

    public static PostgresServer ServerOf(Testing.TestServers servers, string target) => target switch
    {
        "metadata" => servers.Metadata,
        "shard-1" => servers.Shard1Primary,
        "shard-2" => servers.Shard2Primary,
        _ => throw new ArgumentOutOfRangeException(nameof(target), target, null),
    };

    public Task<bool> TableExistsAsync(string target, string table) =>
        ServerOf(Servers, target).ScalarAsync<bool>($"SELECT to_regclass('{table}') IS NOT NULL");

    public Task<long> CountAsync(string target, string table) =>
        ServerOf(Servers, target).ScalarAsync<long>($"SELECT count(*) FROM {table}");

    /// <summary>The versions recorded in a target's history table, in order.</summary>
    public async Task<long[]> HistoryAsync(string target)
    {
        await using var connection = new NpgsqlConnection(ServerOf(Servers, target).ConnectionString(pooling: false));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT version FROM scaling_tenancy.{HistoryTable} ORDER BY version", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var versions = new List<long>();
        while (await reader.ReadAsync())
        {
            versions.Add(reader.GetInt64(0));
        }

        return [.. versions];
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var dataSource in _dataSources)
        {
            await dataSource.DisposeAsync();
        }
    }

    private MigrationTarget Target(string name, MigrationTargetKind kind, PostgresServer server)
    {
        var dataSource = NpgsqlDataSource.Create(server.ConnectionString());
        _dataSources.Add(dataSource);
        return new MigrationTarget(name, kind, dataSource);
    }
}
