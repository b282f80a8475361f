using Scaling.Testing;

namespace Scaling.LoadTest;

/// <summary>
/// The fault run's script over the measured window. Kill (the default): shard 1's replica killed (SIGKILL) at 20 % and
/// restarted at 40 %; one Redis master killed at 55 % and restarted (empty: the test servers keep no Redis data on disk)
/// at 80 %. Pause (<c>--fault-kind pause</c>): each server in turn paused (SIGSTOP) for <c>--pause-for</c> and resumed
/// (SIGCONT), with a recovery stretch after each. The phases are the stretches between those moments, as they actually
/// happened.
/// </summary>
internal static class FaultPlan
{
    /// <summary>The stretch before the first pause and after each resume.</summary>
    public static TimeSpan PauseLeadIn { get; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The servers the pause run pauses, in order: the key that <c>--pause-only</c> names it by, its name in the report,
    /// the process, and which requests need it.
    /// </summary>
    public static IReadOnlyList<PauseTarget> PauseTargets { get; } =
    [
        new("replica", "shard 1 replica", d => new PausableServer(d.Servers.Shard1Replica), x => x.Shard == 1 && x.Kind is RequestKind.Availability or RequestKind.List or RequestKind.QueueSnapshot),
        new("primary1", "shard 1 primary", d => new PausableServer(d.Servers.Shard1Primary), x => x.Shard == 1),
        new("primary2", "shard 2 primary", d => new PausableServer(d.Servers.Shard2Primary), x => x.Shard == 2),
        new("metadata", "metadata database", d => new PausableServer(d.Servers.Metadata), x => x.Kind == RequestKind.Login),
        new("redis1", "redis 1 (cache, rate limits, idempotency, events, lock)", d => new PausableServer(d.Servers.Redis[0]), _ => true),
        new("redis2", "redis 2 (lock quorum)", d => new PausableServer(d.Servers.Redis[1]), x => x.Kind == RequestKind.QueueCallNext),
        new("redis3", "redis 3 (lock quorum)", d => new PausableServer(d.Servers.Redis[2]), x => x.Kind == RequestKind.QueueCallNext),
        new("nginx", "nginx (every request passes through it)", d => d.Nginx, _ => true),
    ];

    /// <summary>The measured time a pause run needs: a lead-in, then each target's pause and its recovery stretch.</summary>
    public static TimeSpan PauseRunDuration(TimeSpan pauseFor, int targets) => PauseLeadIn + (pauseFor + RecoveryStretch(pauseFor)) * targets;

    /// <summary>The targets that <c>--pause-only</c> names (keys separated by commas), in the run's order.</summary>
    public static IReadOnlyList<string> ParseTargets(string keys)
    {
        var named = keys.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var unknown = named.Where(k => PauseTargets.All(t => t.Key != k)).ToArray();
        if (named.Length == 0 || unknown.Length > 0)
        {
            throw new ArgumentException($"Option '--pause-only' takes a comma-separated list of {string.Join(", ", PauseTargets.Select(t => t.Key))}; '{(unknown.Length > 0 ? unknown[0] : keys)}' is not one of them.");
        }

        return PauseTargets.Where(t => named.Contains(t.Key)).Select(t => t.Key).ToArray();
    }

    private static TimeSpan RecoveryStretch(TimeSpan pauseFor) => TimeSpan.FromTicks(Math.Max(PauseLeadIn.Ticks * 2, pauseFor.Ticks / 2));

    public static async Task<IReadOnlyList<Phase>> RunAsync(Deployment deployment, LoadTestOptions options, Recorder recorder, long start, TextWriter log, CancellationToken cancellationToken)
    {
        if (options.FaultKind == FaultKind.Pause)
        {
            return await PauseEachAsync(deployment, options, recorder, start, log, cancellationToken);
        }

        var replica = deployment.Servers.Shard1Replica;
        var redis = deployment.Servers.Redis[options.FaultRedis - 1];
        RedisServer? killedClusterMaster = null;
        var steps = options.RedisCluster
            ? new (double At, string Phase, Func<Task> Act)[]
            {
                (0.20, "replica down", () => replica.KillAsync(cancellationToken)),
                (0.40, "replica restarted", () => replica.RestartAsync(cancellationToken)),
                (0.55, "cluster master down", async () =>
                {
                    // Killed (SIGKILL) without waiting for the failover: the phase covers the takeover too.
                    var cluster = await deployment.Servers.StartRedisClusterAsync(cancellationToken: cancellationToken);
                    killedClusterMaster = (await cluster.MastersAsync(cancellationToken))[0];
                    await killedClusterMaster.KillAsync(cancellationToken);
                    log.WriteLine($"  killed cluster master {killedClusterMaster.Name}");
                }),
                (0.80, "cluster master restarted", async () =>
                {
                    var cluster = await deployment.Servers.StartRedisClusterAsync(cancellationToken: cancellationToken);
                    await killedClusterMaster!.RestartAsync(cancellationToken); // rejoins as its successor's replica
                    _ = cluster.WaitUntilHealthyAsync(cancellationToken).ContinueWith(
                        t => log.WriteLine(t.IsCompletedSuccessfully ? "  the cluster is healthy again" : "  the cluster did not become healthy: " + t.Exception?.GetBaseException().Message),
                        TaskScheduler.Default);
                }),
            }
            : new (double At, string Phase, Func<Task> Act)[]
            {
                (0.20, "replica down", () => replica.KillAsync(cancellationToken)),
                (0.40, "replica restarted", () => replica.RestartAsync(cancellationToken)),
                (0.55, $"redis {options.FaultRedis} down", () => redis.KillAsync(cancellationToken)),
                (0.80, $"redis {options.FaultRedis} restarted", () => redis.RestartAsync(cancellationToken)),
            };

        var phases = new List<Phase>();
        var phaseStart = start;
        var phaseName = "before the faults";
        foreach (var (at, phase, act) in steps)
        {
            var due = start + Recorder.TicksOf(options.Duration * at);
            var wait = due - recorder.Now;
            if (wait > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds(Recorder.Seconds(wait)), cancellationToken);
            }

            var now = recorder.Now;
            phases.Add(new Phase(phaseName, phaseStart, now));
            await act();
            log.WriteLine($"[{Recorder.Seconds(recorder.Now - start),5:0.0} s] fault: {phase}");
            phaseStart = now;
            phaseName = phase;
        }

        phases.Add(new Phase(phaseName, phaseStart, start + Recorder.TicksOf(options.Duration)));
        return phases;
    }

    private static async Task<IReadOnlyList<Phase>> PauseEachAsync(Deployment deployment, LoadTestOptions options, Recorder recorder, long start, TextWriter log, CancellationToken cancellationToken)
    {
        var phases = new List<Phase>();
        var at = start + Recorder.TicksOf(PauseLeadIn);
        await WaitUntilAsync(recorder, at, cancellationToken);
        phases.Add(new Phase("before the pauses", start, recorder.Now));
        var end = start + Recorder.TicksOf(options.Duration);
        foreach (var (_, name, select, needs) in PauseTargets.Where(t => options.PauseOnly.Contains(t.Key)))
        {
            if (recorder.Now >= end)
            {
                log.WriteLine($"[{Recorder.Seconds(recorder.Now - start),5:0.0} s] the measured window ended before {name} was paused (the schedule drifted); it is not in this run");
                break;
            }

            var server = select(deployment);
            var pausedAt = recorder.Now;
            await server.PauseAsync(cancellationToken);
            log.WriteLine($"[{Recorder.Seconds(recorder.Now - start),5:0.0} s] fault: {name} paused");
            try
            {
                await WaitUntilAsync(recorder, pausedAt + Recorder.TicksOf(options.PauseFor), cancellationToken);
            }
            finally
            {
                await server.ResumeAsync(CancellationToken.None);
            }

            var resumedAt = recorder.Now;
            log.WriteLine($"[{Recorder.Seconds(resumedAt - start),5:0.0} s] fault: {name} resumed");
            phases.Add(new Phase($"{name} paused", pausedAt, resumedAt, name, needs));
            await WaitUntilAsync(recorder, resumedAt + Recorder.TicksOf(RecoveryStretch(options.PauseFor)), cancellationToken);
            phases.Add(new Phase($"{name} resumed", resumedAt, recorder.Now, name, needs));
        }

        if (recorder.Now < end)
        {
            phases.Add(new Phase("after the pauses", recorder.Now, end));
        }

        return phases;
    }

    private static async Task WaitUntilAsync(Recorder recorder, long ticks, CancellationToken cancellationToken)
    {
        var wait = ticks - recorder.Now;
        if (wait > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds(Recorder.Seconds(wait)), cancellationToken);
        }
    }
}

/// <summary>A server the pause run pauses: <c>--pause-only</c>'s key, the report's name, the process, and which requests need it.</summary>
internal sealed record PauseTarget(string Key, string Name, Func<Deployment, IPausable> Server, Func<Sample, bool> Needs);

/// <summary>A process the pause run can pause (SIGSTOP) and resume (SIGCONT).</summary>
internal interface IPausable
{
    Task PauseAsync(CancellationToken cancellationToken);

    Task ResumeAsync(CancellationToken cancellationToken);
}

/// <summary>A test server as a pause target.</summary>
internal sealed class PausableServer(ServerProcess server) : IPausable
{
    public Task PauseAsync(CancellationToken cancellationToken) => server.PauseAsync(cancellationToken);

    public Task ResumeAsync(CancellationToken cancellationToken) => server.ResumeAsync(cancellationToken);
}

/// <summary>What the fault run does to a server: kill and restart it, or pause (SIGSTOP) and resume it.</summary>
internal enum FaultKind
{
    Kill,
    Pause,
}
