using System.Diagnostics;

namespace Scaling.LoadTest;

/// <summary>Latency percentiles in milliseconds.</summary>
internal sealed record Percentiles(double P50, double P95, double P99, double Max)
{
    public static Percentiles Of(int[] micros)
    {
        if (micros.Length == 0)
        {
            return new Percentiles(double.NaN, double.NaN, double.NaN, double.NaN);
        }

        Array.Sort(micros);
        double At(double q) => micros[Math.Min(micros.Length - 1, (int)Math.Ceiling(q * micros.Length) - 1)] / 1000.0;
        return new Percentiles(At(0.50), At(0.95), At(0.99), micros[^1] / 1000.0);
    }
}

/// <summary>One row of the report: a request kind over a time window.</summary>
internal sealed record KindStats(string Name, long Count, double PerSecond, Percentiles Latency, long Errors, IReadOnlyDictionary<string, long> Statuses, IReadOnlyDictionary<string, long> ErrorAnswers);

/// <summary>
/// A named stretch of the measured window (the fault run's phases). In a pause run, <paramref name="Needs"/> tells the
/// requests that need the paused server from those that don't, and <paramref name="Paused"/> names it.
/// </summary>
internal sealed record Phase(string Name, long StartTicks, long EndTicks, string? Paused = null, Func<Sample, bool>? Needs = null);

/// <summary>A pause phase's requests that need the paused server and those that don't, and when the last of the former failed.</summary>
internal sealed record PauseRow(Phase Phase, KindStats Needs, KindStats Others, double LastErrorSeconds);

/// <summary>Turns samples into the report's rows and time series.</summary>
internal static class Statistics
{
    public static IReadOnlyList<KindStats> ByKind(IReadOnlyList<Sample> samples, long from, long to)
    {
        var window = samples.Where(s => s.StartTicks >= from && s.StartTicks < to).ToArray();
        var seconds = Recorder.Seconds(to - from);
        var rows = window.GroupBy(s => s.Kind).OrderBy(g => g.Key).Select(g => Row(g.Key.ToString(), g.ToArray(), seconds)).ToList();
        rows.Add(Row("all", window, seconds));
        return rows;
    }

    /// <summary>Per second of the measured window: requests, errors, p50 and p99 of each kind and of all.</summary>
    public static IEnumerable<(int Second, string Kind, long Count, long Errors, double P50, double P99)> PerSecond(IReadOnlyList<Sample> samples, long from, long to)
    {
        var buckets = samples.Where(s => s.StartTicks >= from && s.StartTicks < to)
            .GroupBy(s => (int)((s.StartTicks - from) / Stopwatch.Frequency))
            .OrderBy(g => g.Key);
        foreach (var second in buckets)
        {
            foreach (var kind in second.GroupBy(s => s.Kind.ToString()).Append(second.GroupBy(_ => "all").Single()).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var latency = Percentiles.Of([.. kind.Select(s => s.Micros)]);
                yield return (second.Key, kind.Key, kind.LongCount(), kind.LongCount(s => !s.IsExpected), latency.P50, latency.P99);
            }
        }
    }

    /// <summary>Per second of the measured window: events delivered, p50 and p99 delivery latency.</summary>
    public static IEnumerable<(int Second, long Count, double P50, double P99)> DeliveriesPerSecond(IReadOnlyList<Delivery> deliveries, long from, long to)
        => deliveries.Where(d => d.ReceivedTicks >= from && d.ReceivedTicks < to)
            .GroupBy(d => (int)((d.ReceivedTicks - from) / Stopwatch.Frequency))
            .OrderBy(g => g.Key)
            .Select(g =>
            {
                var latency = Percentiles.Of([.. g.Select(d => d.Micros)]);
                return (g.Key, g.LongCount(), latency.P50, latency.P99);
            });

    /// <summary>
    /// A pause phase split in two: the requests that need the paused server and those that don't; and, after the resume,
    /// when the last request that needs it failed (its time to recover), counted from the phase's start.
    /// </summary>
    public static PauseRow Split(IReadOnlyList<Sample> samples, Phase phase)
    {
        var window = samples.Where(s => s.StartTicks >= phase.StartTicks && s.StartTicks < phase.EndTicks).ToArray();
        var seconds = Recorder.Seconds(phase.EndTicks - phase.StartTicks);
        var needs = window.Where(phase.Needs!).ToArray();
        var others = window.Where(s => !phase.Needs!(s)).ToArray();
        var lastError = needs.Where(s => !s.IsExpected).Select(s => s.StartTicks + Recorder.TicksOf(TimeSpan.FromMicroseconds(s.Micros))).DefaultIfEmpty(phase.StartTicks).Max();
        return new PauseRow(phase, Row("needs it", needs, seconds), Row("doesn't", others, seconds), Recorder.Seconds(lastError - phase.StartTicks));
    }

    private static KindStats Row(string name, Sample[] samples, double seconds)
    {
        var statuses = samples.GroupBy(s => Sample.StatusName(s.Status)).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.LongCount());
        var errors = samples.Where(s => !s.IsExpected).GroupBy(s => Sample.StatusName(s.Status)).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.LongCount());
        return new KindStats(name, samples.Length, samples.Length / seconds, Percentiles.Of([.. samples.Select(s => s.Micros)]), errors.Values.Sum(), statuses, errors);
    }
}
