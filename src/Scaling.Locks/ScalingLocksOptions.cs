using StackExchange.Redis;

namespace Scaling.Locks;

/// <summary>
/// Options of the Redlock provider: the independent Redis masters, per-master timeouts, retry
/// pacing and automatic extension. Validated when the host starts (see <see cref="ScalingLocksOptionsValidator"/>).
/// </summary>
public sealed class ScalingLocksOptions
{
    /// <summary>The longest resource name accepted, in characters.</summary>
    public const int MaxResourceLength = 256;

    /// <summary>The longest <see cref="KeyPrefix"/> accepted, in characters.</summary>
    public const int MaxKeyPrefixLength = 64;

    /// <summary>
    /// The independent Redis masters, each as <c>host:port</c> (for example <c>10.0.0.5:6379</c>): a
    /// positive odd number of distinct endpoints. They must be independent masters (not replicas of each
    /// other, not one cluster): the lock is only as safe as their independence.
    /// </summary>
    public IList<string> Endpoints { get; } = [];

    /// <summary>
    /// The independent Redis masters as the application's own multiplexers, one factory per master, instead of
    /// <see cref="Endpoints"/> (use one or the other): a positive odd number of them, each connected to a different
    /// independent master. The provider never closes them nor changes their settings; the connection and password
    /// options below then do not apply. Writes stay safe on a multiplexer with the default backlog policy: each one
    /// carries its deadline and is refused by the master once its round has given up.
    /// </summary>
    public IList<Func<Task<IConnectionMultiplexer>>> ConnectionMultiplexerFactories { get; } = [];

    /// <summary>The password sent to every master, or <see langword="null"/> for none.</summary>
    public string? Password { get; set; }

    /// <summary>The prefix of every lock key: the key of resource <c>r</c> is <c>KeyPrefix + r</c>. Default <c>lock:</c>.</summary>
    public string KeyPrefix { get; set; } = "lock:";

    /// <summary>
    /// How long one master may take to answer one command before it counts as failed for that attempt.
    /// Keep it well below the TTLs you use (the Redlock specification suggests a few tens of milliseconds
    /// for a 10 s TTL): a master that is down or paused then costs an attempt at most this much.
    /// Default 250 ms.
    /// </summary>
    public TimeSpan NodeTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a connection attempt to one master may take (it continues in the background). Default 2 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The shortest random delay between two attempts of one acquisition. Default 10 ms.</summary>
    public TimeSpan MinRetryDelay { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>The longest random delay between two attempts of one acquisition. Default 100 ms.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Whether an acquired lock is extended automatically (every third of its TTL, asynchronously) until
    /// its handle is disposed. Default <see langword="true"/>. Without it the lock ends when its validity
    /// runs out unless <see cref="IDistributedLockHandle.ExtendAsync"/> is called.
    /// </summary>
    public bool AutoExtend { get; set; } = true;

    /// <summary>
    /// Adds endpoints from a comma-separated list such as the <c>ConnectionStrings:RedisLockMasters</c>
    /// value <c>host:port,host:port,host:port</c>. Blank entries are ignored.
    /// </summary>
    /// <param name="commaSeparated">The list; <see langword="null"/> or empty adds nothing.</param>
    /// <returns>These options, for chaining.</returns>
    public ScalingLocksOptions AddEndpoints(string? commaSeparated)
    {
        if (!string.IsNullOrWhiteSpace(commaSeparated))
        {
            foreach (var endpoint in commaSeparated.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                Endpoints.Add(endpoint);
            }
        }

        return this;
    }

    /// <summary>Adds the application's own multiplexer for one more independent master (it is never closed by the provider).</summary>
    /// <param name="connection">A multiplexer connected to that master alone.</param>
    /// <returns>These options, for chaining.</returns>
    public ScalingLocksOptions AddMaster(IConnectionMultiplexer connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ConnectionMultiplexerFactories.Add(() => Task.FromResult(connection));
        return this;
    }

    internal ScalingLocksOptions Clone()
    {
        var copy = new ScalingLocksOptions
        {
            Password = Password,
            KeyPrefix = KeyPrefix,
            NodeTimeout = NodeTimeout,
            ConnectTimeout = ConnectTimeout,
            MinRetryDelay = MinRetryDelay,
            MaxRetryDelay = MaxRetryDelay,
            AutoExtend = AutoExtend,
        };
        foreach (var endpoint in Endpoints)
        {
            copy.Endpoints.Add(endpoint);
        }

        foreach (var factory in ConnectionMultiplexerFactories)
        {
            copy.ConnectionMultiplexerFactories.Add(factory);
        }

        return copy;
    }
}
