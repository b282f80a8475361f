using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using Scaling.LoadTest;

LoadTestOptions options;
try
{
    options = LoadTestOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"LoadTest: {ex.Message}");
    return 2;
}

if (options.Help)
{
    Console.WriteLine(LoadTestOptions.Usage);
    return 0;
}

// Ctrl+C and SIGTERM end the run early; every process it started is still stopped and the servers removed.
using var abort = new CancellationTokenSource();
void Abort(PosixSignalContext context)
{
    context.Cancel = true;
    Console.Error.WriteLine("LoadTest: stopping (signal); cleaning up...");
    abort.Cancel();
}

using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Abort);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Abort);

var output = Path.GetFullPath(options.OutputDirectory ?? Path.Combine("artifacts", "loadtest", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)));
Directory.CreateDirectory(output);
var log = Console.Out;
try
{
    var run = await LoadRun.ExecuteAsync(options, output, log, abort.Token);
    var summary = Report.Markdown(run);
    log.WriteLine();
    log.WriteLine(summary);
    log.WriteLine($"Results: {output}");
    if (!run.InvariantsHold)
    {
        Console.Error.WriteLine("LoadTest: FAILED: an invariant is broken (see the table above).");
        return 1;
    }

    if (options.FailOnErrors && run.Errors > 0)
    {
        Console.Error.WriteLine($"LoadTest: FAILED: {run.Errors} request(s) had an unexpected answer (a smoke run allows none).");
        return 1;
    }

    if (options.Smoke && run.Requests.Where(r => r.Name != "all").Any(r => r.Count == 0))
    {
        Console.Error.WriteLine("LoadTest: FAILED: some operation of the mix never ran.");
        return 1;
    }

    if (options.Smoke && (run.Server.TargetsUp < run.Server.Targets || run.Server.CacheHitRate is null || run.Server.Routes.Count == 0))
    {
        Console.Error.WriteLine($"LoadTest: FAILED: Prometheus scraped {run.Server.TargetsUp} of {run.Server.Targets} instances, saw {run.Server.Routes.Count} routes and {(run.Server.CacheHitRate is null ? "no" : "a")} cache hit rate.");
        return 1;
    }

    return 0;
}
catch (EnvironmentException ex)
{
    Console.Error.WriteLine($"LoadTest: {ex.Message}");
    return 3;
}
catch (OperationCanceledException) when (abort.IsCancellationRequested)
{
    Console.Error.WriteLine("LoadTest: stopped before the end; no report.");
    return 1;
}
catch (Exception ex) when (ex is InvalidOperationException or HttpRequestException or Npgsql.NpgsqlException)
{
    Console.Error.WriteLine($"LoadTest: FAILED: {ex.Message}");
    return 1;
}

/// <summary>One run, start to finish.</summary>
internal static class LoadRun
{
    public static async Task<RunResult> ExecuteAsync(LoadTestOptions options, string output, TextWriter log, CancellationToken cancellationToken)
    {
        var startedAt = DateTimeOffset.UtcNow;
        await using var deployment = await Deployment.StartAsync(options, output, log, cancellationToken);
        using var client = CreateClient(deployment.ProxyUri, options.Clients);
        using var streamClient = CreateClient(deployment.ProxyUri, int.MaxValue);

        var fixture = await Fixture.CreateAsync(client, options, log, cancellationToken);
        var recorder = new Recorder();
        var workload = new Workload(client, fixture, options, recorder);
        await using var streams = new EventStreams(streamClient, fixture, recorder);
        if (options.EventStreams > 0)
        {
            await streams.OpenAsync(options.EventStreams, TimeSpan.FromSeconds(60), cancellationToken);
            log.WriteLine($"Event streams open: {streams.Open} of {options.EventStreams} ({streams.ConnectFailures} failed).");
        }

        await deployment.Prometheus.WaitForScrapesAsync(deployment.HostUris.Count, TimeSpan.FromSeconds(30), cancellationToken);
        log.WriteLine($"Load: {(options.OpenLoop ? $"open loop, {options.Rate:0}/s" : $"{options.Clients} closed-loop clients")}, {options.Warmup.TotalSeconds:0} s warm-up + {options.Duration.TotalSeconds:0} s measured.");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var load = workload.RunAsync(stop.Token);
        var measureStart = recorder.Now + Recorder.TicksOf(options.Warmup);
        var measureEnd = measureStart + Recorder.TicksOf(options.Duration);

        await using var probe = await ServerWorkProbe.StartAsync(deployment.Servers, deployment.SharedRedis, cancellationToken);
        await DelayUntilAsync(recorder, measureStart, log, cancellationToken);
        var measuredFrom = DateTimeOffset.UtcNow;
        var workBefore = await probe.TakeAsync(cancellationToken);
        var cpuBefore = ProcessCpu.Snapshot(deployment.ProcessGroups());
        var cpuStartTicks = recorder.Now;
        var faults = options.Fault
            ? FaultPlan.RunAsync(deployment, options, recorder, measureStart, log, cancellationToken)
            : Task.FromResult<IReadOnlyList<Phase>>([]);

        await DelayUntilAsync(recorder, measureEnd, log, cancellationToken);
        var measuredTo = DateTimeOffset.UtcNow;
        await stop.CancelAsync();
        var cpuAfter = ProcessCpu.Snapshot(deployment.ProcessGroups());
        var cpuSeconds = Recorder.Seconds(recorder.Now - cpuStartTicks);
        var work = ServerWorkProbe.Between(workBefore, await probe.TakeAsync(cancellationToken));
        var phases = await faults;
        await load;
        var streamsOpen = streams.Open;
        await streams.DisposeAsync();
        log.WriteLine($"Load stopped: {recorder.Completed} requests, {recorder.Errors} unexpected answers. Checking the invariants in PostgreSQL...");

        var invariants = await Invariants.CheckAsync(
            [deployment.Servers.Shard1Primary.ConnectionString(), deployment.Servers.Shard2Primary.ConnectionString()],
            [.. workload.Bookings],
            [.. workload.QueueTokens],
            [.. fixture.Businesses.Select(b => b.Id)],
            cancellationToken);

        // The hosts' own view, from the run's Prometheus (its figures read a scrape taken after the window): after a
        // fault run, its alerts are given two minutes to clear.
        var alertsUntil = options.Fault
            ? await ServerFigures.WaitUntilQuietAsync(deployment.Prometheus, TimeSpan.FromMinutes(2), log, cancellationToken)
            : DateTimeOffset.UtcNow;
        var server = await ServerFigures.QueryAsync(deployment.Prometheus, deployment.HostUris.Count, measuredFrom, measuredTo, alertsUntil, cancellationToken);

        var samples = recorder.Samples();
        var deliveries = recorder.Deliveries().Where(d => d.ReceivedTicks >= measureStart && d.ReceivedTicks < measureEnd).ToArray();
        var result = new RunResult
        {
            Options = options,
            StartedAt = startedAt,
            MeasuredSeconds = options.Duration.TotalSeconds,
            MeasureStartTicks = measureStart,
            Requests = Statistics.ByKind(samples, measureStart, measureEnd),
            BookingsCreated = samples.LongCount(s => s.Kind == RequestKind.Book && s.Status == 201 && s.StartTicks >= measureStart && s.StartTicks < measureEnd),
            StaleReads = workload.StaleReads,
            ReadsChecked = workload.ReadsChecked,
            StreamsOpen = streamsOpen,
            StreamConnectFailures = streams.ConnectFailures,
            StreamDrops = streams.Drops,
            Deliveries = deliveries.Length,
            DeliveryLatency = Percentiles.Of([.. deliveries.Select(d => d.Micros)]),
            Server = server,
            CoresUsed = cpuAfter.ToDictionary(c => c.Key, c => (c.Value - cpuBefore.GetValueOrDefault(c.Key)) / cpuSeconds),
            Work = work,
            AllocatedBytes = server.AllocatedBytes,
            WorkItems = server.WorkItems,
            LockContentions = server.LockContentions,
            Phases = [.. phases.Select(p => (p, Statistics.ByKind(samples, p.StartTicks, p.EndTicks)))],
            Pauses = [.. phases.Where(p => p.Needs is not null).Select(p => Statistics.Split(samples, p))],
            Invariants = invariants,
        };
        await Report.WriteAsync(result, output, samples, deliveries, measureStart, measureEnd, cancellationToken);
        return result;
    }

    private static HttpClient CreateClient(Uri baseAddress, int connections) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = connections,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(10),
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
    })
    {
        BaseAddress = baseAddress,
        Timeout = Timeout.InfiniteTimeSpan,
    };

    private static async Task DelayUntilAsync(Recorder recorder, long ticks, TextWriter log, CancellationToken cancellationToken)
    {
        var lastCompleted = recorder.Completed;
        var lastErrors = recorder.Errors;
        while (recorder.Now < ticks)
        {
            var wait = Math.Min(Recorder.Seconds(ticks - recorder.Now), 5);
            await Task.Delay(TimeSpan.FromSeconds(Math.Max(wait, 0.001)), cancellationToken);
            if (wait < 1)
            {
                continue; // the last moments before the mark: no progress line for a sliver of a second
            }

            var (completed, errors) = (recorder.Completed, recorder.Errors);
            log.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {(completed - lastCompleted) / wait,8:0} requests/s, {errors - lastErrors} unexpected answers");
            (lastCompleted, lastErrors) = (completed, errors);
        }
    }
}
