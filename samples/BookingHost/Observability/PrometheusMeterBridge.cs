using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Prometheus;

namespace BookingHost.Observability;

/// <summary>
/// Publishes .NET <see cref="Meter"/> instruments as prometheus-net metrics in the host's own
/// <see cref="CollectorRegistry"/>, keeping each instrument's meaning in Prometheus:
/// <list type="bullet">
/// <item><see cref="Counter{T}"/> and <see cref="ObservableCounter{T}"/> become counters (<c>_total</c>);</item>
/// <item>histograms become histograms, with buckets that fit the unit (or the instrument's own bucket advice);</item>
/// <item>up-down counters, gauges and observable gauges become gauges;</item>
/// <item>names are the instrument's, with <c>_</c> for <c>.</c>, the base unit as a suffix (<c>_seconds</c>,
/// <c>_bytes</c>; milliseconds are converted to seconds) and <c>_total</c> on counters.</item>
/// </list>
/// prometheus-net's own meter adapter publishes every counter as a gauge and forgets series that have not changed
/// for five minutes, so it is not used. The bridge listens from the moment it is created (BookingHost creates it
/// before the first request), so nothing recorded before the first scrape is lost. It exports the
/// <c>Scaling.*</c> meters of this host's <see cref="IMeterFactory"/> (so several hosts in one process keep their
/// figures apart), the process-wide <c>BookingHost.*</c> meters, and .NET's <c>System.Runtime</c> meter.
/// </summary>
public sealed class PrometheusMeterBridge : IDisposable
{
    private static readonly double[] SecondsBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    private static readonly double[] BytesBuckets = Histogram.ExponentialBuckets(1024, 4, 12);
    private static readonly double[] CountBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10000];

    [ThreadStatic]
    private static string[]? t_labelValues;

    private readonly MeterListener _listener = new();
    private readonly MetricFactory _factory;
    private readonly IMeterFactory? _meterFactory;
    private readonly ConcurrentDictionary<Instrument, InstrumentExport> _exports = new();
    private int _disposed;

    /// <summary>Creates the registry (with prometheus-net's process and GC metrics) and starts listening.</summary>
    /// <param name="meterFactory">This host's meter factory: its <c>Scaling.*</c> meters are exported.</param>
    public PrometheusMeterBridge(IMeterFactory? meterFactory)
    {
        _meterFactory = meterFactory;
        Registry = Metrics.NewCustomRegistry();
        ProcessMetrics.Register(Registry);
        _factory = Metrics.WithCustomRegistry(Registry);

        // Exemplars are only served in the OpenMetrics format and cost a lookup of the current trace on every
        // measurement; the host's traces carry the ids that matter.
        _factory.ExemplarBehavior = ExemplarBehavior.NoExemplars();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (Exports(instrument))
            {
                _exports.TryAdd(instrument, new InstrumentExport(instrument, _factory));
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<float>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<short>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<byte>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<decimal>((i, v, tags, _) => Record(i, (double)v, tags));
        _listener.Start();
        Registry.AddBeforeCollectCallback(() =>
        {
            if (Volatile.Read(ref _disposed) == 0)
            {
                _listener.RecordObservableInstruments();
            }
        });
    }

    /// <summary>The registry <c>/metrics</c> serves.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>The factory for the host's own prometheus-net metrics (HTTP request metrics), in <see cref="Registry"/>.</summary>
    public IMetricFactory Factory => _factory;

    /// <summary>The Prometheus name an instrument is published under.</summary>
    public static string PrometheusName(Instrument instrument)
    {
        ArgumentNullException.ThrowIfNull(instrument);
        var kind = KindOf(instrument);
        var name = Sanitize(instrument.Name);
        var suffix = UnitSuffix(instrument.Unit, kind);
        if (suffix.Length > 0 && !name.EndsWith(suffix, StringComparison.Ordinal))
        {
            name += suffix;
        }

        if (kind is MetricKind.Counter or MetricKind.ObservedCounter)
        {
            return name + "_total";
        }

        return kind == MetricKind.Histogram ? name : GaugeName(name, instrument.Unit);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _listener.Dispose();
        }
    }

    private bool Exports(Instrument instrument)
    {
        var meter = instrument.Meter;
        if (meter.Name.StartsWith("Scaling.", StringComparison.Ordinal))
        {
            // A package's meter comes from the host's meter factory; a meter of another host in this process is not ours.
            return meter.Scope is null || ReferenceEquals(meter.Scope, _meterFactory);
        }

        return meter.Name.StartsWith("BookingHost.", StringComparison.Ordinal) || meter.Name == "System.Runtime";
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (_exports.TryGetValue(instrument, out var export))
        {
            export.Record(value, tags);
        }
    }

    private static MetricKind KindOf(Instrument instrument)
    {
        var type = instrument.GetType().GetGenericTypeDefinition();
        if (type == typeof(Histogram<>))
        {
            return MetricKind.Histogram;
        }

        if (type == typeof(Counter<>))
        {
            return MetricKind.Counter;
        }

        if (type == typeof(ObservableCounter<>))
        {
            return MetricKind.ObservedCounter;
        }

        return type == typeof(UpDownCounter<>) ? MetricKind.DeltaGauge : MetricKind.Gauge;
    }

    /// <summary>
    /// In Prometheus a <c>_count</c> suffix belongs to histograms and summaries: a gauge such as .NET's
    /// <c>dotnet.thread_pool.thread.count</c> (unit <c>{thread}</c>) is published as <c>dotnet_thread_pool_threads</c>.
    /// </summary>
    private static string GaugeName(string name, string? unit)
    {
        const string Count = "_count";
        if (!name.EndsWith(Count, StringComparison.Ordinal))
        {
            return name;
        }

        var stem = name[..^Count.Length];
        if (unit is not ['{', .., '}'] || unit.Length < 3)
        {
            return stem + "_number";
        }

        var noun = Sanitize(unit[1..^1]);
        if (stem.EndsWith("_" + noun, StringComparison.Ordinal))
        {
            stem = stem[..^(noun.Length + 1)];
        }

        var plural = noun.EndsWith('y') && noun.Length > 1 && !"aeiou".Contains(noun[^2], StringComparison.Ordinal) ? noun[..^1] + "ies" : noun.EndsWith('s') ? noun : noun + "s";
        return stem + "_" + plural;
    }

    private static string UnitSuffix(string? unit, MetricKind kind) => unit switch
    {
        "s" or "ms" => "_seconds",
        "By" => "_bytes",
        "1" when kind is MetricKind.Gauge or MetricKind.DeltaGauge => "_ratio",
        _ => string.Empty,
    };

    private static string Sanitize(string name)
    {
        return string.Create(name.Length, name, static (chars, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                var c = source[i];
                chars[i] = char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_';
            }
        });
    }

    private enum MetricKind
    {
        Counter,
        ObservedCounter,
        Gauge,
        DeltaGauge,
        Histogram,
    }

    /// <summary>One instrument's metric family: one prometheus-net collector per set of tag names it is recorded with.</summary>
    private sealed class InstrumentExport(Instrument instrument, MetricFactory factory)
    {
        private readonly MetricKind _kind = KindOf(instrument);
        private readonly string _name = PrometheusName(instrument);
        private readonly string _help = string.IsNullOrWhiteSpace(instrument.Description) ? instrument.Name : instrument.Description;
        private readonly double _scale = instrument.Unit == "ms" ? 0.001 : 1;
        private readonly double[] _buckets = BucketsFor(instrument);
        private readonly Lock _gate = new();
        private Shape[] _shapes = [];

        internal void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var shape = ShapeOf(tags);
            var series = shape.SeriesFor(tags) ?? shape.Keep(tags, SeriesOf(shape, tags));
            value *= _scale;
            switch (series)
            {
                case ICounter counter when _kind == MetricKind.Counter:
                    counter.Inc(value);
                    break;
                case ICounter counter:
                    counter.IncTo(value);
                    break;
                case IGauge gauge when _kind == MetricKind.DeltaGauge:
                    gauge.Inc(value);
                    break;
                case IGauge gauge:
                    gauge.Set(value);
                    break;
                case IHistogram histogram:
                    histogram.Observe(value);
                    break;
            }
        }

        /// <summary>The collector's series (its child) for the tags' values, through prometheus-net's own look-up.</summary>
        private static object SeriesOf(Shape shape, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = t_labelValues is { } buffer && buffer.Length >= tags.Length ? buffer : (t_labelValues = new string[Math.Max(8, tags.Length)]);
            for (var i = 0; i < shape.TagIndexes.Length; i++)
            {
                labels[i] = Convert.ToString(tags[shape.TagIndexes[i]].Value, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty;
            }

            var values = new ReadOnlySpan<string>(labels, 0, shape.TagIndexes.Length);
            return shape.Collector switch
            {
                Counter counter => counter.WithLabels(values),
                Gauge gauge => gauge.WithLabels(values),
                Histogram histogram => histogram.WithLabels(values),
                _ => throw new InvalidOperationException($"No series for a {shape.Collector.GetType().Name}."),
            };
        }

        private static double[] BucketsFor(Instrument instrument)
        {
            if (instrument is Histogram<double> { Advice.HistogramBucketBoundaries: { Count: > 0 } doubles })
            {
                return [.. doubles.Select(b => instrument.Unit == "ms" ? b / 1000 : b)];
            }

            if (instrument is Histogram<long> { Advice.HistogramBucketBoundaries: { Count: > 0 } longs })
            {
                return [.. longs.Select(b => instrument.Unit == "ms" ? b / 1000.0 : b)];
            }

            return instrument.Unit switch
            {
                "s" or "ms" => SecondsBuckets,
                "By" => BytesBuckets,
                _ => CountBuckets,
            };
        }

        private Shape ShapeOf(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var shape in Volatile.Read(ref _shapes))
            {
                if (shape.Matches(tags))
                {
                    return shape;
                }
            }

            lock (_gate)
            {
                foreach (var shape in _shapes)
                {
                    if (shape.Matches(tags))
                    {
                        return shape;
                    }
                }

                var created = CreateShape(tags);
                Volatile.Write(ref _shapes, [.. _shapes, created]);
                return created;
            }
        }

        private Shape CreateShape(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var keys = new string[tags.Length];
            for (var i = 0; i < tags.Length; i++)
            {
                keys[i] = tags[i].Key;
            }

            // Prometheus label names in a fixed (ordinal) order; the indexes say which tag fills each.
            var order = Enumerable.Range(0, keys.Length).OrderBy(i => Sanitize(keys[i]), StringComparer.Ordinal).ToArray();
            var labelNames = order.Select(i => Sanitize(keys[i])).ToArray();
            Collector collector = _kind switch
            {
                MetricKind.Counter or MetricKind.ObservedCounter => factory.CreateCounter(_name, _help, labelNames),
                MetricKind.Histogram => factory.CreateHistogram(_name, _help, labelNames, new HistogramConfiguration { Buckets = _buckets }),
                _ => factory.CreateGauge(_name, _help, labelNames),
            };
            return new Shape(keys, order, collector);
        }
    }

    /// <summary>
    /// The tag names (in the order an instrument records them) that one collector serves, and the series it recorded to
    /// last: up to <see cref="MaxKeptSeries"/> of them, found again by the tags' values themselves (the same string or
    /// an equal boxed value), so a measurement of a known series makes no label strings and no prometheus-net look-up.
    /// Beyond that many (a tag of many values), the rest are looked up by prometheus-net on each measurement.
    /// </summary>
    private sealed class Shape(string[] keys, int[] tagIndexes, Collector collector)
    {
        internal const int MaxKeptSeries = 64;

        private readonly Lock _gate = new();
        private KeptSeries[] _kept = [];

        internal int[] TagIndexes { get; } = tagIndexes;

        internal Collector Collector { get; } = collector;

        internal bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length != keys.Length)
            {
                return false;
            }

            for (var i = 0; i < tags.Length; i++)
            {
                if (!string.Equals(tags[i].Key, keys[i], StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>The kept series of these tags' values, or <see langword="null"/>.</summary>
        internal object? SeriesFor(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var kept in Volatile.Read(ref _kept))
            {
                if (kept.Matches(tags))
                {
                    return kept.Series;
                }
            }

            return null;
        }

        /// <summary>Keeps <paramref name="series"/> for these tags' values while there is room, and returns it.</summary>
        internal object Keep(ReadOnlySpan<KeyValuePair<string, object?>> tags, object series)
        {
            if (Volatile.Read(ref _kept).Length >= MaxKeptSeries)
            {
                return series; // full: the series past the kept ones take no lock
            }

            lock (_gate)
            {
                foreach (var kept in _kept)
                {
                    if (kept.Matches(tags))
                    {
                        return kept.Series; // kept by another thread meanwhile
                    }
                }

                if (_kept.Length < MaxKeptSeries)
                {
                    var values = new object?[tags.Length];
                    for (var i = 0; i < tags.Length; i++)
                    {
                        values[i] = tags[i].Value;
                    }

                    Volatile.Write(ref _kept, [.. _kept, new KeptSeries(values, series)]);
                }
            }

            return series;
        }

        private sealed record KeptSeries(object?[] Values, object Series)
        {
            internal bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> tags)
            {
                for (var i = 0; i < Values.Length; i++)
                {
                    if (!object.Equals(Values[i], tags[i].Value))
                    {
                        return false;
                    }
                }

                return true;
            }
        }
    }
}
