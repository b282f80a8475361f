namespace Scaling.Testing;

/// <summary>How <see cref="TestServers.StartAsync"/> starts the set.</summary>
public sealed class TestServerOptions
{
    /// <summary>
    /// When set, the servers listen on fixed ports from here on, in this order: redis-1, redis-2,
    /// redis-3, metadata, shard1-primary, shard1-replica, shard2-primary. When null (the default),
    /// each takes a free port. A fixed port that is taken ends the start with a clear error.
    /// </summary>
    public int? BasePort { get; set; }

    /// <summary>The folder that holds PostgreSQL's server programs; null to find it (see <see cref="ServerBinaries.Locate"/>).</summary>
    public string? PostgresBinDirectory { get; set; }

    /// <summary>The <c>redis-server</c> program; null to find it (see <see cref="ServerBinaries.Locate"/>).</summary>
    public string? RedisServerPath { get; set; }

    /// <summary>The folder in which the set's temporary folder is made; null for the system's temporary folder.</summary>
    public string? TemporaryRoot { get; set; }

    /// <summary>How long one server may take to answer after it was started. Default: 60 seconds.</summary>
    public TimeSpan ServerStartTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
