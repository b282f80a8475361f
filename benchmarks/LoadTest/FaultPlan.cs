using Scaling.Testing;

namespace Scaling.LoadTest;

/// <summary>
/// The fault run's script over the measured window: shard 1's replica killed (SIGKILL) at 20 % and restarted at 40 %;
/// one Redis master killed at 55 % and restarted (empty: the test servers keep no Redis data on disk) at 80 %.
/// The phases are the stretches between those moments, as they actually happened.
/// </summary>
internal static class FaultPlan
{
    public static async Task<IReadOnlyList<Phase>> RunAsync(Deployment deployment, LoadTestOptions options, Recorder recorder, long start, TextWriter log, CancellationToken cancellationToken)
    {
        var replica = deployment.Servers.Shard1Replica;
        var redis = deployment.Servers.Redis[options.FaultRedis - 1];
        var steps = new (double At, string Phase, Func<Task> Act)[]
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
}
