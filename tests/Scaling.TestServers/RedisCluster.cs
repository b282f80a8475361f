using System.Diagnostics;
using System.Globalization;

namespace Scaling.Testing;

/// <summary>
/// A real Redis Cluster on loopback ports: <c>redis-server --cluster-enabled yes</c> nodes joined with
/// <c>redis-cli --cluster create</c>, three masters each with one replica. Started by
/// <see cref="TestServers.StartRedisClusterAsync"/> only when a test asks for it. It can fail a master over (killed, or
/// <c>CLUSTER FAILOVER</c> on its replica) and move a slot while clients run. Roles change with every failover: ask
/// <see cref="TopologyAsync"/> or <see cref="MasterForKeyAsync"/>, never assume which node is a master.
/// </summary>
/// <remarks>
/// The nodes keep no data on disk (a killed master comes back empty and resynchronises from the replica that replaced
/// it), but each keeps its <c>nodes.conf</c>, so a restarted node rejoins the cluster as the replica of its successor.
/// The cluster node timeout is <see cref="NodeTimeout"/>: a dead or paused master is replaced a few seconds after it stops
/// answering, and until then its slots answer <c>CLUSTERDOWN</c> (full coverage is required, Redis's default).
/// </remarks>
public sealed class RedisCluster
{
    /// <summary>The cluster node timeout every node runs with (<c>cluster-node-timeout</c>).</summary>
    public static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The number of hash slots of a Redis Cluster.</summary>
    public const int SlotCount = 16384;

    // redis-cli prints an error reply like any other and exits with 0; these are the errors a cluster test can meet.
    private static readonly string[] ErrorPrefixes =
        ["ERR ", "(error)", "MOVED ", "ASK ", "CLUSTERDOWN ", "TRYAGAIN ", "CROSSSLOT ", "WRONGTYPE ", "LOADING ", "MASTERDOWN ", "READONLY ", "BUSY ", "NOSCRIPT "];

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(60);
    private readonly string _cli;

    internal RedisCluster(IReadOnlyList<RedisServer> nodes, string cli)
    {
        Nodes = nodes;
        _cli = cli;
    }

    /// <summary>Every node, masters and replicas (roles change with failovers).</summary>
    public IReadOnlyList<RedisServer> Nodes { get; }

    /// <summary>The StackExchange.Redis configuration that names the cluster: every node's endpoint, comma-separated.</summary>
    public string Configuration => string.Join(',', Nodes.Select(n => n.EndPoint));

    /// <summary>The arguments of <c>redis-server</c> for a cluster node whose cluster bus listens on <paramref name="busPort"/>.</summary>
    internal static IReadOnlyList<string> NodeArguments(int busPort) =>
    [
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", ((long)NodeTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
        "--cluster-port", busPort.ToString(CultureInfo.InvariantCulture),
    ];

    /// <summary>Joins the started, empty nodes into a cluster (<c>redis-cli --cluster create</c>) and waits until it is healthy.</summary>
    internal async Task CreateAsync(int replicasPerMaster, CancellationToken cancellationToken)
    {
        await CommandRunner.RunAsync(
            [_cli, "--cluster", "create", .. Nodes.Select(n => n.EndPoint), "--cluster-replicas", replicasPerMaster.ToString(CultureInfo.InvariantCulture), "--cluster-yes"],
            TimeSpan.FromSeconds(60),
            cancellationToken);
        await WaitUntilHealthyAsync(cancellationToken);
    }

    /// <summary>
    /// Runs one command on one node with <c>redis-cli</c> and returns its reply as text (raw: no type prefixes). An
    /// error reply, or no answer within 5 s (a paused node), ends with a <see cref="TestServerException"/>.
    /// </summary>
    public async Task<string> CommandAsync(RedisServer node, IReadOnlyList<string> command, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        var reply = await CommandRunner.RunAsync([_cli, "-h", node.Host, "-p", node.Port.ToString(CultureInfo.InvariantCulture), .. command], CommandTimeout, cancellationToken);
        reply = reply.TrimEnd('\n', '\r');
        if (ErrorPrefixes.Any(prefix => reply.StartsWith(prefix, StringComparison.Ordinal)))
        {
            throw new TestServerException($"{node.Name} answered '{string.Join(' ', command)}' with: {CommandRunner.Tail(reply, 400)}");
        }

        return reply;
    }

    /// <summary>The cluster as the first running node that answers sees it (<c>CLUSTER NODES</c>).</summary>
    public async Task<IReadOnlyList<RedisClusterNode>> TopologyAsync(CancellationToken cancellationToken = default)
    {
        TestServerException? last = null;
        foreach (var node in Nodes.Where(n => n.State == ServerState.Running))
        {
            try
            {
                return Parse(await CommandAsync(node, ["CLUSTER", "NODES"], cancellationToken));
            }
            catch (TestServerException ex)
            {
                last = ex;
            }
        }

        throw new TestServerException("No node of the Redis Cluster answered CLUSTER NODES" + (last is null ? "." : ": " + last.Message));
    }

    /// <summary>The hash slot of <paramref name="key"/> (<c>CLUSTER KEYSLOT</c>; a <c>{hash tag}</c> decides).</summary>
    public async Task<int> SlotOfAsync(string key, CancellationToken cancellationToken = default)
    {
        var node = Nodes.First(n => n.State == ServerState.Running);
        return int.Parse(await CommandAsync(node, ["CLUSTER", "KEYSLOT", key], cancellationToken), CultureInfo.InvariantCulture);
    }

    /// <summary>The master that serves <paramref name="key"/>'s slot now.</summary>
    public async Task<RedisServer> MasterForKeyAsync(string key, CancellationToken cancellationToken = default)
    {
        var slot = await SlotOfAsync(key, cancellationToken);
        var topology = await TopologyAsync(cancellationToken);
        return topology.FirstOrDefault(n => n.IsMaster && !n.IsFailed && n.Serves(slot))?.Server
            ?? throw new TestServerException($"No master serves slot {slot} now.");
    }

    /// <summary>
    /// The node that holds the pub/sub connection of the client named <paramref name="clientName"/> (<c>CLIENT LIST TYPE
    /// pubsub</c> on every running node): where a multiplexer's subscriptions live, which StackExchange.Redis decides.
    /// </summary>
    public async Task<RedisServer> PubSubNodeOfAsync(string clientName, CancellationToken cancellationToken = default)
    {
        foreach (var node in Nodes.Where(n => n.State == ServerState.Running))
        {
            if ((await CommandAsync(node, ["CLIENT", "LIST", "TYPE", "pubsub"], cancellationToken)).Contains("name=" + clientName + " ", StringComparison.Ordinal))
            {
                return node;
            }
        }

        throw new TestServerException($"No node of the Redis Cluster has a pub/sub connection named {clientName}.");
    }

    /// <summary>The masters now (each serves a range of slots).</summary>
    public async Task<IReadOnlyList<RedisServer>> MastersAsync(CancellationToken cancellationToken = default) =>
        [.. (await TopologyAsync(cancellationToken)).Where(n => n.IsMaster && !n.IsFailed && n.Slots.Count > 0).Select(n => n.Server)];

    /// <summary>
    /// A manual failover (<c>CLUSTER FAILOVER</c> on <paramref name="master"/>'s replica, the way an operator moves a master
    /// for maintenance: no write is lost). Returns the new master once every node agrees and the cluster serves every slot.
    /// </summary>
    public async Task<RedisServer> FailoverAsync(RedisServer master, CancellationToken cancellationToken = default)
    {
        var replica = await ReplicaOfAsync(master, cancellationToken);
        await CommandAsync(replica, ["CLUSTER", "FAILOVER"], cancellationToken);
        await WaitUntilAsync(
            async () => (await TopologyAsync(cancellationToken)).Any(n => n.Server == replica && n.IsMaster) && await IsServingAsync(cancellationToken),
            $"{replica.Name} did not become a master after CLUSTER FAILOVER",
            cancellationToken);
        await WaitUntilHealthyAsync(cancellationToken);
        return replica;
    }

    /// <summary>
    /// Makes <paramref name="node"/> a master: nothing when it is one, otherwise a manual failover of its master
    /// (<see cref="FailoverAsync"/>). True when it already was a master.
    /// </summary>
    public async Task<bool> MakeMasterAsync(RedisServer node, CancellationToken cancellationToken = default)
    {
        var topology = await TopologyAsync(cancellationToken);
        var seen = topology.Single(n => n.Server == node);
        if (seen.IsMaster)
        {
            return true;
        }

        await FailoverAsync(topology.Single(n => n.Id == seen.MasterId).Server, cancellationToken);
        return false;
    }

    /// <summary>
    /// Kills <paramref name="master"/> (SIGKILL) and waits until its replica has replaced it and the cluster serves every
    /// slot again; returns the new master. The killed node stays down: <see cref="RejoinAsync"/> brings it back.
    /// </summary>
    public async Task<RedisServer> KillMasterAsync(RedisServer master, CancellationToken cancellationToken = default)
    {
        var replica = await ReplicaOfAsync(master, cancellationToken);
        await master.KillAsync(cancellationToken);
        await WaitUntilAsync(
            async () => (await TopologyAsync(cancellationToken)).Any(n => n.Server == replica && n.IsMaster) && await IsServingAsync(cancellationToken),
            $"{replica.Name} did not replace the killed master {master.Name}",
            cancellationToken);
        return replica;
    }

    /// <summary>
    /// Starts a node that was killed or stopped (resumes a paused one) and waits until the cluster is healthy again: it
    /// rejoins as a replica when another node took its slots.
    /// </summary>
    public async Task RejoinAsync(RedisServer node, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (node.State == ServerState.Paused)
        {
            await node.ResumeAsync(cancellationToken);
        }
        else if (node.State == ServerState.Stopped)
        {
            await node.RestartAsync(cancellationToken);
        }

        await WaitUntilHealthyAsync(cancellationToken);
    }

    /// <summary>
    /// Moves one slot, with its keys, to <paramref name="destination"/> (a master) the way <c>redis-cli --cluster reshard</c>
    /// does: <c>SETSLOT IMPORTING/MIGRATING</c>, <c>MIGRATE</c> in batches, <c>SETSLOT NODE</c> on every master. Clients
    /// meanwhile get <c>ASK</c> and <c>MOVED</c> redirections.
    /// </summary>
    public async Task MigrateSlotAsync(int slot, RedisServer destination, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, SlotCount);
        var topology = await TopologyAsync(cancellationToken);
        var source = topology.Single(n => n.IsMaster && n.Serves(slot));
        var target = topology.Single(n => n.Server == destination);
        if (!target.IsMaster)
        {
            throw new ArgumentException($"{destination.Name} is not a master.", nameof(destination));
        }

        if (source.Id == target.Id)
        {
            return;
        }

        var slotText = slot.ToString(CultureInfo.InvariantCulture);
        await CommandAsync(target.Server, ["CLUSTER", "SETSLOT", slotText, "IMPORTING", source.Id], cancellationToken);
        await CommandAsync(source.Server, ["CLUSTER", "SETSLOT", slotText, "MIGRATING", target.Id], cancellationToken);
        while (true)
        {
            var keys = (await CommandAsync(source.Server, ["CLUSTER", "GETKEYSINSLOT", slotText, "100"], cancellationToken))
                .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (keys.Length == 0)
            {
                break;
            }

            await CommandAsync(
                source.Server,
                ["MIGRATE", target.Server.Host, target.Server.Port.ToString(CultureInfo.InvariantCulture), string.Empty, "0", "5000", "REPLACE", "KEYS", .. keys],
                cancellationToken);
        }

        // The destination first, then the source (so it stops answering ASK), then every other master.
        string[] assign = ["CLUSTER", "SETSLOT", slotText, "NODE", target.Id];
        await CommandAsync(target.Server, assign, cancellationToken);
        await CommandAsync(source.Server, assign, cancellationToken);
        foreach (var other in topology.Where(n => n.IsMaster && n.Id != target.Id && n.Id != source.Id && !n.IsFailed))
        {
            await CommandAsync(other.Server, assign, cancellationToken);
        }

        await WaitUntilAsync(
            async () =>
            {
                foreach (var node in Nodes.Where(n => n.State == ServerState.Running))
                {
                    var seen = Parse(await CommandAsync(node, ["CLUSTER", "NODES"], cancellationToken));
                    if (!seen.Any(n => n.Id == target.Id && n.Serves(slot)))
                    {
                        return false;
                    }
                }

                return true;
            },
            $"not every node saw slot {slot} move to {destination.Name}",
            cancellationToken);
    }

    /// <summary>
    /// Waits until every node runs and answers, all agree on one configuration, every slot is served, every master has a
    /// replica whose replication link is up, and no node is flagged as failing.
    /// </summary>
    public Task WaitUntilHealthyAsync(CancellationToken cancellationToken = default) =>
        WaitUntilAsync(() => IsHealthyAsync(cancellationToken), "the Redis Cluster did not become healthy", cancellationToken);

    /// <summary>The replica of <paramref name="master"/> (the first one listed).</summary>
    public async Task<RedisServer> ReplicaOfAsync(RedisServer master, CancellationToken cancellationToken = default)
    {
        var topology = await TopologyAsync(cancellationToken);
        var node = topology.SingleOrDefault(n => n.Server == master && n.IsMaster)
            ?? throw new ArgumentException($"{master.Name} is not a master now.", nameof(master));
        return topology.FirstOrDefault(n => !n.IsMaster && n.MasterId == node.Id && !n.IsFailed)?.Server
            ?? throw new TestServerException($"{master.Name} has no replica now.");
    }

    private async Task<bool> IsServingAsync(CancellationToken cancellationToken)
    {
        foreach (var node in Nodes.Where(n => n.State == ServerState.Running))
        {
            var info = await CommandAsync(node, ["CLUSTER", "INFO"], cancellationToken);
            if (!info.Contains("cluster_state:ok", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private async Task<bool> IsHealthyAsync(CancellationToken cancellationToken)
    {
        if (Nodes.Any(n => n.State != ServerState.Running) || !await IsServingAsync(cancellationToken))
        {
            return false;
        }

        string? agreed = null;
        foreach (var node in Nodes)
        {
            var topology = Parse(await CommandAsync(node, ["CLUSTER", "NODES"], cancellationToken));
            if (topology.Count != Nodes.Count || topology.Any(n => n.IsFailed))
            {
                return false;
            }

            var masters = topology.Where(n => n.IsMaster).ToList();
            if (masters.Sum(m => m.Slots.Sum(r => r.End - r.Start + 1)) != SlotCount
                || masters.Any(m => !topology.Any(r => r.MasterId == m.Id)))
            {
                return false;
            }

            var shape = string.Join(';', topology.OrderBy(n => n.Id, StringComparer.Ordinal)
                .Select(n => $"{n.Id}:{n.MasterId}:{string.Join(',', n.Slots.Select(r => $"{r.Start}-{r.End}"))}"));
            if (agreed is not null && shape != agreed)
            {
                return false;
            }

            agreed = shape;
            if (!topology.Single(n => n.Server == node).IsMaster
                && !(await CommandAsync(node, ["INFO", "replication"], cancellationToken)).Contains("master_link_status:up", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string failure, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        Exception? last = null;
        while (stopwatch.Elapsed < SettleTimeout)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (TestServerException ex)
            {
                last = ex; // a node still starting, or one that just died
            }

            await Task.Delay(100, cancellationToken);
        }

        throw new TestServerException($"{failure} within {SettleTimeout.TotalSeconds:0} s" + (last is null ? "." : $" (last error: {last.Message})."));
    }

    private List<RedisClusterNode> Parse(string clusterNodes)
    {
        var nodes = new List<RedisClusterNode>();
        foreach (var line in clusterNodes.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = line.Split(' ');
            if (fields.Length < 8)
            {
                continue;
            }

            var address = fields[1].Split('@')[0].Split(',')[0];
            var port = int.Parse(address[(address.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
            var server = Nodes.FirstOrDefault(n => n.Port == port);
            if (server is null)
            {
                continue; // a node that forgot its address (noaddr) during a restart
            }

            var flags = fields[2].Split(',');
            var slots = new List<(int Start, int End)>();
            foreach (var range in fields.Skip(8).Where(f => !f.StartsWith('[')))
            {
                var dash = range.IndexOf('-', StringComparison.Ordinal);
                slots.Add(dash < 0
                    ? (int.Parse(range, CultureInfo.InvariantCulture), int.Parse(range, CultureInfo.InvariantCulture))
                    : (int.Parse(range[..dash], CultureInfo.InvariantCulture), int.Parse(range[(dash + 1)..], CultureInfo.InvariantCulture)));
            }

            nodes.Add(new RedisClusterNode(
                fields[0],
                server,
                flags.Contains("master"),
                fields[3] == "-" ? null : fields[3],
                flags.Contains("fail") || flags.Contains("fail?"),
                slots));
        }

        return nodes;
    }
}

/// <summary>One node of a <see cref="RedisCluster"/> as <c>CLUSTER NODES</c> shows it.</summary>
/// <param name="Id">The node id.</param>
/// <param name="Server">The process.</param>
/// <param name="IsMaster">True for a master.</param>
/// <param name="MasterId">A replica's master's id; null for a master.</param>
/// <param name="IsFailed">True when flagged as failing (<c>fail</c> or <c>fail?</c>).</param>
/// <param name="Slots">The slot ranges a master serves (inclusive).</param>
public sealed record RedisClusterNode(string Id, RedisServer Server, bool IsMaster, string? MasterId, bool IsFailed, IReadOnlyList<(int Start, int End)> Slots)
{
    /// <summary>True when this node serves <paramref name="slot"/>.</summary>
    public bool Serves(int slot) => Slots.Any(r => slot >= r.Start && slot <= r.End);
}
