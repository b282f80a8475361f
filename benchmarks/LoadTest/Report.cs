using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Scaling.LoadTest;

/// <summary>Everything a finished run reports.</summary>
internal sealed record RunResult
{
    public required LoadTestOptions Options { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public required double MeasuredSeconds { get; init; }

    /// <summary>When the measured window started, in <see cref="Recorder"/> ticks.</summary>
    public required long MeasureStartTicks { get; init; }

    public required IReadOnlyList<KindStats> Requests { get; init; }

    public required long BookingsCreated { get; init; }

    public required long StaleReads { get; init; }

    public required long ReadsChecked { get; init; }

    public required int StreamsOpen { get; init; }

    public required long StreamConnectFailures { get; init; }

    public required long StreamDrops { get; init; }

    public required long Deliveries { get; init; }

    public required Percentiles DeliveryLatency { get; init; }

    /// <summary>What the run's Prometheus saw (PromQL over the hosts' metrics), and the alerts it fired.</summary>
    public required ServerFigures Server { get; init; }

    public required IReadOnlyDictionary<string, double> CoresUsed { get; init; }

    /// <summary>What PostgreSQL and the shared Redis counted themselves over the window (statements, commands, scans).</summary>
    public required ServerWork Work { get; init; }

    /// <summary>Bytes the hosts allocated over the window (the runtime's <c>dotnet.gc.heap.total_allocated</c>, from Prometheus), if it was exported.</summary>
    public double? AllocatedBytes { get; init; }

    /// <summary>Thread-pool work items the hosts ran over the window, or <see langword="null"/> if not exported.</summary>
    public double? WorkItems { get; init; }

    /// <summary>Contended lock waits in the hosts over the window, or <see langword="null"/> if not exported.</summary>
    public double? LockContentions { get; init; }

    /// <summary>
    /// The CPU each answered request of the window cost, in µs, per process group (cores ÷ requests per second); with
    /// one operation alone (<c>--mix book=1</c>) that operation's cost, with a mix the mix's average. Empty without requests.
    /// </summary>
    public IReadOnlyDictionary<string, double> CpuMicrosPerRequest
        => Requests.FirstOrDefault(r => r.Name == "all") is { PerSecond: > 0 } all
            ? CoresUsed.ToDictionary(c => c.Key, c => c.Value / all.PerSecond * 1e6)
            : new Dictionary<string, double>();

    public required IReadOnlyList<(Phase Phase, IReadOnlyList<KindStats> Rows)> Phases { get; init; }

    /// <summary>The pause run's phases, split by whether a request needs the paused server.</summary>
    public IReadOnlyList<PauseRow> Pauses { get; init; } = [];

    public required IReadOnlyList<InvariantResult> Invariants { get; init; }

    public bool InvariantsHold => Invariants.All(i => i.Holds) && StaleReads == 0;

    public long Errors => Requests.Single(r => r.Name == "all").Errors;
}

/// <summary>Writes a run's report: <c>summary.md</c> (also printed), <c>summary.json</c> and the time series as CSV.</summary>
internal static class Report
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerOptions.Web)
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string Markdown(RunResult run)
    {
        var o = run.Options;
        var text = new StringBuilder();
        void Line(string line = "") => text.Append(line).Append('\n');
        string Ms(double value) => double.IsNaN(value) ? "–" : value.ToString(value < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture);

        Line($"# BookingHost load test, {run.StartedAt:yyyy-MM-dd HH:mm} UTC");
        Line();
        Line($"- Machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}.");
        Line($"- Load: {(o.OpenLoop ? $"open loop at {o.Rate:0} requests/s (at most {o.Clients} in flight)" : $"closed loop, {o.Clients} clients" + (o.Think > TimeSpan.Zero ? $", {o.Think.TotalMilliseconds:0} ms think time" : string.Empty))}; "
            + $"{o.Duration.TotalSeconds:0} s measured after {o.Warmup.TotalSeconds:0} s of warm-up; {o.EventStreams} event streams.");
        Line($"- System: {o.Instances} BookingHost instance(s) behind nginx; {o.Tenants} businesses on 2 shards (shard 1 with a streaming replica), {o.Resources} resources each; {o.Accounts} customer accounts.");
        Line($"- Mix: {string.Join(", ", o.Mix.Where(m => m.Value > 0).Select(m => $"{m.Key.ToString().ToLowerInvariant()} {m.Value}"))}; {o.Hot:P0} of bookings aim at 4 popular slots.");
        if (o.Fault)
        {
            Line(o.FaultKind == FaultKind.Pause
                ? $"- Faults: each server paused (SIGSTOP) in turn for {o.PauseFor.TotalSeconds:0} s, then resumed (SIGCONT) (phases below)."
                : o.RedisCluster
                    ? "- Faults: shard 1's replica killed and restarted, then a Redis Cluster master killed (its replica took over) and restarted (it rejoined as a replica) (phases below)."
                    : $"- Faults: shard 1's replica killed and restarted, then Redis master {o.FaultRedis} killed and restarted (phases below).");
        }

        if (o.PinHosts)
        {
            Line($"- Pinned: each BookingHost instance to a core of its own (`taskset`: instance 1 on core 0, instance 2 on core 1); the servers, nginx and the load generator are not pinned.");
        }

        if (o.RedisCluster)
        {
            Line("- Shared Redis: a Redis Cluster of 3 masters with a replica each (cache, rate limits, idempotency, revocation, events, shard-map push); the Redlock masters are 3 independent servers.");
        }

        Line();
        Line("## Requests");
        Line();
        Line("| operation | requests | per second | p50 ms | p95 ms | p99 ms | max ms | errors | answers |");
        Line("|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var row in run.Requests)
        {
            Line($"| {row.Name} | {row.Count} | {row.PerSecond:0.0} | {Ms(row.Latency.P50)} | {Ms(row.Latency.P95)} | {Ms(row.Latency.P99)} | {Ms(row.Latency.Max)} | {row.Errors} | {Statuses(row.Statuses)} |");
        }

        Line();
        Line($"- Booking writes (201): {run.BookingsCreated / run.MeasuredSeconds:0.0}/s; availability reads: {run.Requests.FirstOrDefault(r => r.Name == nameof(RequestKind.Availability))?.PerSecond ?? 0:0.0}/s.");
        Line($"- Read-your-writes: {run.ReadsChecked} reads carried a consistency token after the account's own booking; {run.StaleReads} missed it.");
        Line($"- Cache hit rate (Prometheus, the hosts' `scaling_cache_*` counters from the scrape before the measured window to the scrape after it): {Rate(run.Server.CacheHitRate)} overall, {Rate(run.Server.CacheL1HitRate)} in L1.");
        Line($"- Server-side error rate (Prometheus, 5xx answers of the hosts): {Rate(run.Server.ErrorRate)}; instances scraped: {run.Server.TargetsUp} of {run.Server.Targets}.");
        Line($"- Event streams: {run.StreamsOpen} open at the end, {run.StreamConnectFailures} failed to open, {run.StreamDrops} dropped and reopened; "
            + $"{run.Deliveries} events delivered ({run.Deliveries / run.MeasuredSeconds:0}/s), latency p50 {Ms(run.DeliveryLatency.P50)} ms, p95 {Ms(run.DeliveryLatency.P95)} ms, p99 {Ms(run.DeliveryLatency.P99)} ms, max {Ms(run.DeliveryLatency.Max)} ms.");
        Line($"- CPU (cores used on average over the measured window): {string.Join(", ", run.CoresUsed.OrderByDescending(c => c.Value).Select(c => $"{c.Key} {c.Value:0.00}"))}.");
        if (run.CpuMicrosPerRequest.Count > 0)
        {
            var perRequest = run.CpuMicrosPerRequest;
            var servers = perRequest.Where(c => c.Key != "load generator").Sum(c => c.Value);
            Line($"- CPU per request (µs; with one operation alone, `--mix op=1`, that operation's cost): {string.Join(", ", perRequest.OrderByDescending(c => c.Value).Select(c => $"{c.Key} {c.Value:0}"))}; "
                + $"the system without the load generator {servers:0}, all processes {perRequest.Values.Sum():0}.");
        }

        WriteWork(run, Line);

        if (run.Phases.Count > 0)
        {
            Line();
            Line("## Fault phases");
            Line();
            Line("| phase | seconds | requests/s | errors | p50 ms | p99 ms | max ms | error answers |");
            Line("|---|---|---:|---:|---:|---:|---:|---|");
            foreach (var (phase, rows) in run.Phases)
            {
                var all = rows.Single(r => r.Name == "all");
                var errors = rows.Where(r => r.Name != "all" && r.Errors > 0).Select(r => $"{r.Name}: {Statuses(r.ErrorAnswers)}");
                Line($"| {phase.Name} | {Recorder.Seconds(phase.StartTicks - run.MeasureStartTicks):0}–{Recorder.Seconds(phase.EndTicks - run.MeasureStartTicks):0} | {all.PerSecond:0.0} | {all.Errors} | {Ms(all.Latency.P50)} | {Ms(all.Latency.P99)} | {Ms(all.Latency.Max)} | {string.Join("; ", errors)} |");
            }
        }

        if (run.Pauses.Count > 0)
        {
            Line();
            Line("## Paused servers");
            Line();
            Line("Per phase, the requests that need the paused server and those that don't (latency from the request's start; errors by answer). "
                + "\"Last error\" is when, counted from the phase's start, the last request that needs the server failed: after the resume, its time to recover.");
            Line();
            Line("| phase | needs it: requests | p99 ms | max ms | errors | doesn't: requests | p99 ms | max ms | errors | last error |");
            Line("|---|---:|---:|---:|---|---:|---:|---:|---|---:|");
            foreach (var pause in run.Pauses)
            {
                string Errors(KindStats row) => row.Errors == 0 ? "0" : $"{row.Errors} ({Statuses(row.ErrorAnswers)})";
                Line($"| {pause.Phase.Name} | {pause.Needs.Count} | {Ms(pause.Needs.Latency.P99)} | {Ms(pause.Needs.Latency.Max)} | {Errors(pause.Needs)} | "
                    + $"{pause.Others.Count} | {Ms(pause.Others.Latency.P99)} | {Ms(pause.Others.Latency.Max)} | {Errors(pause.Others)} | {(pause.Needs.Errors == 0 ? "–" : $"{pause.LastErrorSeconds:0.0} s")} |");
            }
        }

        Line();
        Line("## Prometheus (the hosts' metrics, scraped every 2 s, with BookingHost's rules)");
        Line();
        Line("p95 from the hosts' `http_request_duration_seconds` buckets from the scrape before the measured window to the scrape after it (bucket bounds double from 1 ms, so it is coarse; the client-side figures above are exact).");
        Line();
        Line("| route | requests | p95 ms |");
        Line("|---|---:|---:|");
        foreach (var route in run.Server.Routes)
        {
            Line($"| {route.Method} {route.Route} | {route.Requests:0} | {(route.P95Ms is { } p ? Ms(p) : "–")} |");
        }

        Line();
        if (run.Server.Alerts.Count == 0)
        {
            Line("Alerts: none fired.");
        }
        else
        {
            Line("| alert | severity | instance | firing from s | to s |");
            Line("|---|---|---|---:|---|");
            foreach (var alert in run.Server.Alerts)
            {
                Line($"| {alert.Name} | {alert.Severity} | {alert.Instance} | {alert.FromSeconds:0} | {(alert.StillFiring ? "still firing" : alert.ToSeconds.ToString("0", CultureInfo.InvariantCulture))} |");
            }
        }

        if (o.Fault)
        {
            var expected = ExpectedAlerts(o);
            Line();
            Line($"Expected for these faults: {string.Join(", ", expected.Select(a => $"{a} {(run.Server.FiredAndCleared(a) ? "fired and cleared" : run.Server.Alerts.Any(x => x.Name == a) ? "fired, **not cleared**" : "**did not fire**")}"))}.");
        }

        Line();
        Line("Signals over the window (Prometheus, counters grown from the scrape before the window to the scrape after it, both instances summed; 0s left out):");
        Line();
        Line("| counter | labels | grew by |");
        Line("|---|---|---:|");
        foreach (var signal in run.Server.Signals)
        {
            Line($"| {signal.Counter} | {signal.Labels} | {signal.Value:0} |");
        }

        Line();
        Line("## Invariants (checked in PostgreSQL after the run)");
        Line();
        Line("| invariant | checked | violations | detail | |");
        Line("|---|---:|---:|---|---|");
        foreach (var invariant in run.Invariants)
        {
            Line($"| {invariant.Name} | {invariant.Checked} | {invariant.Violations} | {invariant.Detail} | {(invariant.Holds ? "holds" : "**BROKEN**")} |");
        }

        Line($"| read-your-writes (token reads showing the account's own booking) | {run.ReadsChecked} | {run.StaleReads} | | {(run.StaleReads == 0 ? "holds" : "**BROKEN**")} |");
        Line();
        Line(run.InvariantsHold ? "Result: **every invariant holds**." : "Result: **AN INVARIANT IS BROKEN**.");
        return text.ToString();
    }

    /// <summary>
    /// The section that says where the work went, from the servers' own statistics: per answered request, the
    /// PostgreSQL transactions, statements (each with its share of PostgreSQL's execution time, rows and buffer hits),
    /// table scans, and the Redis commands (each with Redis's time per call), plus the hosts' allocations.
    /// </summary>
    private static void WriteWork(RunResult run, Action<string> line)
    {
        if (run.Requests.FirstOrDefault(r => r.Name == "all") is not { Count: > 0 } all)
        {
            return;
        }

        // Every request the servers saw in the window, answered or not, is in "all" (the window's requests).
        double requests = all.Count;
        var work = run.Work;
        var statements = work.Statements.Sum(s => s.Calls);
        var executionMs = work.Statements.Sum(s => s.ExecutionMs);
        line(string.Empty);
        line("## Where the work went (the servers' own counters over the window, per request)");
        line(string.Empty);
        line($"- PostgreSQL: {work.Commits / requests:0.00} transactions committed and {work.Rollbacks / requests:0.00} rolled back, {statements / requests:0.00} statements "
            + $"({executionMs * 1000 / requests:0} µs of execution) per request (`pg_stat_statements`, `pg_stat_database`, all four servers); "
            + $"table scans: {work.IndexScans / requests:0.00} by index, {work.SequentialScans / requests:0.00} sequential.");
        line($"- Redis (the shared Redis, every master): {work.Commands.Sum(c => c.Calls) / requests:0.00} commands per request, {work.Commands.Sum(c => c.Microseconds) / requests:0} µs of command time; "
            + $"{work.SlowCommands:0} entries in the slow log (over 10 ms).");
        if (work.NotRead.Count > 0)
        {
            line($"- Left out of these figures (down or paused at one end of the window, or restarted inside it): {string.Join(", ", work.NotRead)}.");
        }

        if (run.AllocatedBytes is { } allocated)
        {
            line($"- The hosts allocated {allocated / requests / 1024:0.0} KiB per request (`dotnet.gc.heap.total_allocated`).");
        }

        if (run.WorkItems is { } workItems)
        {
            line($"- The hosts' thread pools ran {workItems / requests:0.00} work items per request (`dotnet.thread_pool.work_item.count`: hops between threads, which"
                + $" cost CPU without drifting with the machine's speed){(run.LockContentions is { } contentions ? $"; {contentions / requests:0.000} contended lock waits per request" : string.Empty)}.");
        }

        line(string.Empty);
        line("| PostgreSQL statement (server) | calls per request | µs per call | share of execution time | rows per call | buffer hits per call |");
        line("|---|---:|---:|---:|---:|---:|");
        foreach (var statement in work.Statements.Take(12))
        {
            line($"| `{statement.Query.Replace("|", "\\|", StringComparison.Ordinal)}` ({statement.Server}) | {statement.Calls / requests:0.00} | {statement.ExecutionMs * 1000 / statement.Calls:0} | "
                + $"{(executionMs > 0 ? statement.ExecutionMs / executionMs : 0):P0} | {statement.Rows / statement.Calls:0.0} | {statement.BlocksHit / statement.Calls:0.0} |");
        }

        line(string.Empty);
        line("| Redis command | calls per request | µs per call (in Redis) |");
        line("|---|---:|---:|");
        foreach (var command in work.Commands.Take(12))
        {
            line($"| {command.Command} | {command.Calls / requests:0.00} | {command.Microseconds / command.Calls:0.0} |");
        }
    }

    public static async Task WriteAsync(RunResult run, string directory, Sample[] samples, Delivery[] deliveries, long from, long to, CancellationToken cancellationToken)
    {
        await File.WriteAllTextAsync(Path.Combine(directory, "summary.md"), Markdown(run), cancellationToken);
        var json = JsonSerializer.Serialize(
            new
            {
                run.StartedAt,
                options = new
                {
                    run.Options.Clients,
                    durationSeconds = run.Options.Duration.TotalSeconds,
                    warmupSeconds = run.Options.Warmup.TotalSeconds,
                    run.Options.Rate,
                    run.Options.EventStreams,
                    run.Options.Tenants,
                    run.Options.Resources,
                    run.Options.Accounts,
                    mix = run.Options.Mix.ToDictionary(m => m.Key.ToString(), m => m.Value),
                    run.Options.Hot,
                    run.Options.Instances,
                    run.Options.Fault,
                },
                run.MeasuredSeconds,
                run.Requests,
                run.BookingsCreated,
                run.StaleReads,
                run.ReadsChecked,
                streams = new { open = run.StreamsOpen, connectFailures = run.StreamConnectFailures, drops = run.StreamDrops, run.Deliveries, latency = run.DeliveryLatency },
                server = run.Server,
                run.CoresUsed,
                run.CpuMicrosPerRequest,
                work = run.Work,
                run.AllocatedBytes,
                run.WorkItems,
                run.LockContentions,
                phases = run.Phases.Select(p => new { p.Phase.Name, start = Recorder.Seconds(p.Phase.StartTicks - from), end = Recorder.Seconds(p.Phase.EndTicks - from), p.Rows }),
                run.Invariants,
                invariantsHold = run.InvariantsHold,
            },
            JsonOptions);
        await File.WriteAllTextAsync(Path.Combine(directory, "summary.json"), json, cancellationToken);

        var series = new StringBuilder("second,kind,requests,errors,p50_ms,p99_ms\n");
        foreach (var (second, kind, count, errors, p50, p99) in Statistics.PerSecond(samples, from, to))
        {
            series.Append(CultureInfo.InvariantCulture, $"{second},{kind},{count},{errors},{p50:0.###},{p99:0.###}\n");
        }

        await File.WriteAllTextAsync(Path.Combine(directory, "requests.csv"), series.ToString(), cancellationToken);

        var events = new StringBuilder("second,events,p50_ms,p99_ms\n");
        foreach (var (second, count, p50, p99) in Statistics.DeliveriesPerSecond(deliveries, from, to))
        {
            events.Append(CultureInfo.InvariantCulture, $"{second},{count},{p50:0.###},{p99:0.###}\n");
        }

        await File.WriteAllTextAsync(Path.Combine(directory, "events.csv"), events.ToString(), cancellationToken);

        var phases = new StringBuilder("name,start_s,end_s\n");
        foreach (var (phase, _) in run.Phases)
        {
            phases.Append(CultureInfo.InvariantCulture, $"{phase.Name},{Recorder.Seconds(phase.StartTicks - from):0.0},{Recorder.Seconds(phase.EndTicks - from):0.0}\n");
        }

        await File.WriteAllTextAsync(Path.Combine(directory, "phases.csv"), phases.ToString(), cancellationToken);

        var percentiles = new StringBuilder("kind,p50_ms,p95_ms,p99_ms,max_ms\n");
        foreach (var row in run.Requests)
        {
            percentiles.Append(CultureInfo.InvariantCulture, $"{row.Name},{row.Latency.P50:0.###},{row.Latency.P95:0.###},{row.Latency.P99:0.###},{row.Latency.Max:0.###}\n");
        }

        await File.WriteAllTextAsync(Path.Combine(directory, "percentiles.csv"), percentiles.ToString(), cancellationToken);
    }

    /// <summary>The alerts a fault run should fire (and clear): the killed or paused servers' own.</summary>
    internal static IReadOnlyList<string> ExpectedAlerts(LoadTestOptions options)
    {
        if (options.FaultKind == FaultKind.Pause)
        {
            var alerts = new List<string>();
            if (options.PauseOnly.Contains("replica"))
            {
                alerts.Add("ScalingReplicaEjected");
            }

            if (options.PauseOnly.Contains("redis1"))
            {
                alerts.Add("ScalingRedisCircuitOpen");
            }

            return alerts;
        }

        // On a cluster the killed master's replica takes over within seconds, less than the circuit alert's 15 s.
        if (options.RedisCluster)
        {
            return ["ScalingReplicaEjected"];
        }

        // Redis 2 or 3 alone takes no quorum away (2 of 3 masters remain) and carries no cache.
        return options.FaultRedis == 1 ? ["ScalingReplicaEjected", "ScalingRedisCircuitOpen"] : ["ScalingReplicaEjected"];
    }

    private static string Rate(double? rate) => rate is { } r && !double.IsNaN(r) ? r.ToString("P1", CultureInfo.InvariantCulture) : "–";

    private static string Statuses(IReadOnlyDictionary<string, long> statuses) => string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}"));
}
