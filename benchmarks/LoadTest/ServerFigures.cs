using System.Globalization;

namespace Scaling.LoadTest;

/// <summary>One route's figures as Prometheus saw them (prometheus-net's <c>http_request_duration_seconds</c>).</summary>
internal sealed record RouteFigure(string Method, string Route, double Requests, double? P95Ms);

/// <summary>How much one counter grew over the measured window, for one combination of its labels (instances summed).</summary>
internal sealed record SignalFigure(string Counter, string Labels, double Value);

/// <summary>One stretch during which an alert was firing, in seconds from the start of the measured window.</summary>
internal sealed record AlertSpan(string Name, string Severity, string Instance, double FromSeconds, double ToSeconds, bool StillFiring);

/// <summary>
/// What the run's Prometheus saw over the measured window, from PromQL: how many instances it scraped, the error rate,
/// the cache hit rate, p95 per route (the hosts' histograms, so bucket-coarse), and each alert that fired.
/// </summary>
internal sealed record ServerFigures
{
    /// <summary>The request series every figure reads: health probes, scrapes and the event stream (as long as its client listens) left out.</summary>
    public const string Requests = "endpoint!~\"/health/.*|/metrics|/api/v1/events\"";

    public required int TargetsUp { get; init; }

    public required int Targets { get; init; }

    public required double? ErrorRate { get; init; }

    public required double? CacheHitRate { get; init; }

    public required double? CacheL1HitRate { get; init; }

    public required IReadOnlyList<RouteFigure> Routes { get; init; }

    public required IReadOnlyList<AlertSpan> Alerts { get; init; }

    /// <summary>
    /// The counters that say why a run is slow or where its work went (L1 flushes, Redis and PostgreSQL failures and
    /// retries, degraded decisions, exceptions, garbage collections), each grown over the window, by label; 0s left out.
    /// </summary>
    public required IReadOnlyList<SignalFigure> Signals { get; init; }

    /// <summary>Bytes allocated by the hosts over the window (<c>dotnet_gc_heap_total_allocated_bytes_total</c>), or <see langword="null"/> if not exported.</summary>
    public double? AllocatedBytes { get; init; }

    /// <summary>
    /// Work items the hosts' thread pools ran over the window (<c>dotnet_thread_pool_work_item_count_total</c>): each is a
    /// hop, an <c>await</c> that resumed on another thread, a socket's completion or a queued callback. Unlike CPU time, the
    /// count does not drift with the machine's speed.
    /// </summary>
    public double? WorkItems { get; init; }

    /// <summary>Times a thread of the hosts waited for a contended lock over the window (<c>dotnet_monitor_lock_contentions_total</c>).</summary>
    public double? LockContentions { get; init; }

    /// <summary>The counters of <see cref="Signals"/>.</summary>
    public static IReadOnlyList<string> SignalCounters { get; } =
    [
        "scaling_cache_backplane_flushes_total",
        "scaling_cache_backplane_out_of_order_total",
        "scaling_cache_l2_errors_total",
        "scaling_cache_stale_served_total",
        "scaling_cache_factory_calls_total",
        "scaling_ratelimit_decisions_total",
        "scaling_data_retries_total",
        "scaling_data_read_fallbacks_total",
        "scaling_data_read_rejections_total",
        "scaling_data_replica_ejections_total",
        "scaling_locks_attempts_total",
        "scaling_tenancy_routes_stale_total",
        "scaling_tenancy_map_loads_total",
        "scaling_tenancy_unavailable_total",
        "bookinghost_realtime_events_dropped_total",
        "booking_idempotency_requests_total",
        "dotnet_exceptions_total",
        "dotnet_gc_collections_total",
    ];

    /// <summary>Whether an alert named <paramref name="name"/> fired and then cleared.</summary>
    public bool FiredAndCleared(string name) => Alerts.Any(a => a.Name == name) && Alerts.Where(a => a.Name == name).All(a => !a.StillFiring);

    /// <summary>
    /// Queries the figures of the window <paramref name="from"/>–<paramref name="to"/>, and the alerts from
    /// <paramref name="from"/> until <paramref name="alertsUntil"/>.
    /// </summary>
    /// <remarks>
    /// Each figure is the difference of the counters between the last scrape before <paramref name="from"/> and the
    /// last one <see cref="Settle"/> after <paramref name="to"/> (a series that did not exist yet counts from 0; the run waits for a first scrape of every instance before it starts), so it
    /// is exact to one scrape at either end. <c>increase()</c> over the window is not used: it extrapolates from the
    /// samples inside the window and has none to work with when a short window holds one scrape of a series that
    /// appeared inside it, which is how a smoke run on a loaded machine reported no routes at all.
    /// </remarks>
    public static async Task<ServerFigures> QueryAsync(PrometheusServer prometheus, int targets, DateTimeOffset from, DateTimeOffset to, DateTimeOffset alertsUntil, CancellationToken cancellationToken)
    {
        var end = to + Settle;
        var wait = end + TimeSpan.FromSeconds(0.5) - DateTimeOffset.UtcNow;
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, cancellationToken);
        }

        var start = PrometheusServer.Seconds(from);
        string Grown(string selector, string by = "")
        {
            var sum = by.Length == 0 ? "sum" : by.StartsWith("without", StringComparison.Ordinal) ? $"sum {by}" : $"sum by ({by})";
            var atEnd = $"{sum} (last_over_time({selector}[1m]))";
            return $"(({atEnd} - {sum} (last_over_time({selector}[1m] @ {start}))) or {atEnd})";
        }

        var up = await prometheus.ScalarAsync("sum(up{job=\"booking\"})", end, cancellationToken);
        var lookups = $"({Grown("scaling_cache_hits_total{tier=\"l1\"}")} + {Grown("scaling_cache_misses_total{tier=\"l1\"}")})";
        var requests = Grown($"http_requests_received_total{{{Requests}}}");
        var routes = await prometheus.QueryAsync(Grown($"http_requests_received_total{{{Requests}}}", "method, endpoint"), end, cancellationToken);
        var p95 = await prometheus.QueryAsync(
            $"histogram_quantile(0.95, {Grown($"http_request_duration_seconds_bucket{{{Requests}}}", "method, endpoint, le")})", end, cancellationToken);
        var p95ByRoute = p95.ToDictionary(s => (s.Labels.GetValueOrDefault("method", string.Empty), s.Labels.GetValueOrDefault("endpoint", string.Empty)), s => s.Value);

        return new ServerFigures
        {
            TargetsUp = (int)(up ?? 0),
            Targets = targets,
            ErrorRate = await prometheus.ScalarAsync($"{Grown($"http_requests_received_total{{code=~\"5..\",{Requests}}}")} / {requests}", end, cancellationToken)
                ?? (await prometheus.ScalarAsync(requests, end, cancellationToken) > 0 ? 0 : null),
            CacheHitRate = await prometheus.ScalarAsync($"{Grown("scaling_cache_hits_total")} / {lookups}", end, cancellationToken),
            CacheL1HitRate = await prometheus.ScalarAsync($"{Grown("scaling_cache_hits_total{tier=\"l1\"}")} / {lookups}", end, cancellationToken),
            Routes =
            [
                .. routes
                    .Select(r => (Method: r.Labels.GetValueOrDefault("method", string.Empty), Route: r.Labels.GetValueOrDefault("endpoint", string.Empty), r.Value))
                    .Where(r => r.Value > 0)
                    .OrderBy(r => r.Route, StringComparer.Ordinal).ThenBy(r => r.Method, StringComparer.Ordinal)
                    .Select(r => new RouteFigure(r.Method, r.Route, r.Value, p95ByRoute.TryGetValue((r.Method, r.Route), out var q) && double.IsFinite(q) ? q * 1000 : null)),
            ],
            Alerts = await AlertsAsync(prometheus, from, alertsUntil, cancellationToken),
            Signals = await SignalsAsync(prometheus, end, Grown, cancellationToken),
            AllocatedBytes = await prometheus.ScalarAsync(Grown("dotnet_gc_heap_total_allocated_bytes_total"), end, cancellationToken),
            WorkItems = await prometheus.ScalarAsync(Grown("dotnet_thread_pool_work_item_count_total"), end, cancellationToken),
            LockContentions = await prometheus.ScalarAsync(Grown("dotnet_monitor_lock_contentions_total"), end, cancellationToken),
        };
    }

    private static async Task<IReadOnlyList<SignalFigure>> SignalsAsync(PrometheusServer prometheus, DateTimeOffset end, Func<string, string, string> grown, CancellationToken cancellationToken)
    {
        var signals = new List<SignalFigure>();
        foreach (var counter in SignalCounters)
        {
            var series = await prometheus.QueryAsync(grown(counter, "without (instance, job)"), end, cancellationToken);
            signals.AddRange(series
                .Where(s => s.Value > 0)
                .Select(s => new SignalFigure(counter, string.Join(", ", s.Labels.Where(l => l.Key != "__name__").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")), s.Value))
                .OrderBy(s => s.Labels, StringComparer.Ordinal));
        }

        return signals;
    }

    /// <summary>How long after the window its closing scrape is read: more than one scrape interval (2 s).</summary>
    public static TimeSpan Settle { get; } = TimeSpan.FromSeconds(3);

    /// <summary>Waits (at most <paramref name="limit"/>) until no alert is firing; returns when it stopped waiting.</summary>
    public static async Task<DateTimeOffset> WaitUntilQuietAsync(PrometheusServer prometheus, TimeSpan limit, TextWriter log, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + limit;
        while (true)
        {
            var now = DateTimeOffset.UtcNow;
            var firing = await prometheus.QueryAsync("ALERTS{alertstate=\"firing\"}", now, cancellationToken);
            if (firing.Count == 0 || now >= deadline)
            {
                if (firing.Count > 0)
                {
                    log.WriteLine($"Still firing after {limit.TotalSeconds:0} s: {string.Join(", ", firing.Select(f => f.Labels.GetValueOrDefault("alertname")).Distinct())}.");
                }

                return now;
            }

            await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        }
    }

    private static async Task<IReadOnlyList<AlertSpan>> AlertsAsync(PrometheusServer prometheus, DateTimeOffset from, DateTimeOffset until, CancellationToken cancellationToken)
    {
        // A range query repeats a series' last sample for a while after it ends, so whether an alert still fires at the
        // end comes from an instant query there.
        var step = TimeSpan.FromSeconds(1);
        var series = await prometheus.QueryRangeAsync("ALERTS{alertstate=\"firing\"}", from, until, step, cancellationToken);
        var firingAtEnd = (await prometheus.QueryAsync("ALERTS{alertstate=\"firing\"}", until, cancellationToken)).Select(s => Key(s.Labels)).ToHashSet(StringComparer.Ordinal);
        var spans = new List<AlertSpan>();
        foreach (var (labels, points) in series)
        {
            var name = labels.GetValueOrDefault("alertname", "?");
            var severity = labels.GetValueOrDefault("severity", string.Empty);
            var instance = labels.GetValueOrDefault("instance", labels.GetValueOrDefault("job", string.Empty));
            DateTimeOffset? start = null;
            var last = DateTimeOffset.MinValue;
            foreach (var (at, _) in points.OrderBy(p => p.At))
            {
                if (start is not null && at - last > step * 2.5)
                {
                    spans.Add(new AlertSpan(name, severity, instance, (start.Value - from).TotalSeconds, (last - from).TotalSeconds, false));
                    start = null;
                }

                start ??= at;
                last = at;
            }

            if (start is not null)
            {
                spans.Add(new AlertSpan(name, severity, instance, (start.Value - from).TotalSeconds, (last - from).TotalSeconds, firingAtEnd.Contains(Key(labels))));
            }
        }

        return [.. spans.OrderBy(s => s.FromSeconds).ThenBy(s => s.Name, StringComparer.Ordinal)];
    }

    private static string Key(IReadOnlyDictionary<string, string> labels)
        => string.Join(',', labels.Where(l => l.Key != "__name__").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"));
}
