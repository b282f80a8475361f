using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace BookingHost.Observability;

/// <summary>
/// A small Prometheus text-format exporter built on <see cref="MeterListener"/>: it aggregates every instrument of the
/// <c>Scaling.*</c> and <c>BookingHost.*</c> meters and ASP.NET Core's <c>http.server.request.duration</c>, and
/// writes them on scrape (counters as <c>_total</c>, gauges, histograms with cumulative buckets).
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    private static readonly double[] SecondsBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly double[] MillisecondsBuckets = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
    private static readonly double[] GenericBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10000];

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, Family> _families = new();

    /// <summary>Starts listening.</summary>
    public PrometheusExporter()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (Exports(instrument))
            {
                _families.TryAdd(instrument, new Family(instrument));
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<float>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
    }

    /// <summary>Whether an instrument is exported.</summary>
    public static bool Exports(Instrument instrument)
        => instrument.Meter.Name.StartsWith("Scaling.", StringComparison.Ordinal)
            || instrument.Meter.Name.StartsWith("BookingHost.", StringComparison.Ordinal)
            || (instrument.Meter.Name == "Microsoft.AspNetCore.Hosting" && instrument.Name == "http.server.request.duration");

    /// <summary>Writes every exported series in the Prometheus text format (version 0.0.4).</summary>
    public string Scrape()
    {
        _listener.RecordObservableInstruments();
        var text = new StringBuilder();
        foreach (var family in _families.Values.OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            family.Write(text);
        }

        return text.ToString();
    }

    /// <inheritdoc />
    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (_families.TryGetValue(instrument, out var family))
        {
            family.Record(value, tags);
        }
    }

    private sealed class Family
    {
        private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);
        private readonly string _kind;
        private readonly double[] _buckets;
        private readonly bool _absolute;
        private readonly string _help;

        internal Family(Instrument instrument)
        {
            var type = instrument.GetType().GetGenericTypeDefinition();
            _absolute = instrument.IsObservable || type == typeof(Gauge<>);
            _kind = type == typeof(Histogram<>) ? "histogram"
                : type == typeof(Counter<>) || type == typeof(ObservableCounter<>) ? "counter"
                : "gauge";
            var unit = instrument.Unit switch
            {
                "s" => "_seconds",
                "ms" => "_milliseconds",
                "By" => "_bytes",
                _ => string.Empty,
            };
            var baseName = Sanitize(instrument.Name);
            Name = baseName.EndsWith(unit, StringComparison.Ordinal) ? baseName : baseName + unit;
            if (_kind == "counter")
            {
                Name += "_total";
            }

            _buckets = instrument.Unit switch { "s" => SecondsBuckets, "ms" => MillisecondsBuckets, _ => GenericBuckets };
            _help = (instrument.Description ?? instrument.Name).Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
        }

        internal string Name { get; }

        internal void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = Labels(tags);
            var series = _series.GetOrAdd(labels, _ => new Series(_buckets.Length));
            lock (series)
            {
                if (_kind == "histogram")
                {
                    for (var i = 0; i < _buckets.Length; i++)
                    {
                        if (value <= _buckets[i])
                        {
                            series.Buckets[i]++;
                        }
                    }

                    series.Count++;
                    series.Value += value;
                }
                else if (_absolute)
                {
                    series.Value = value; // a gauge's value, or an observed counter's total
                }
                else
                {
                    series.Value += value;
                }
            }
        }

        internal void Write(StringBuilder text)
        {
            if (_series.IsEmpty)
            {
                return;
            }

            text.Append(CultureInfo.InvariantCulture, $"# HELP {Name} {_help}\n# TYPE {Name} {_kind}\n");
            foreach (var (labels, series) in _series.OrderBy(s => s.Key, StringComparer.Ordinal))
            {
                lock (series)
                {
                    if (_kind != "histogram")
                    {
                        text.Append(CultureInfo.InvariantCulture, $"{Name}{Braces(labels)} {Format(series.Value)}\n");
                        continue;
                    }

                    for (var i = 0; i < _buckets.Length; i++)
                    {
                        text.Append(CultureInfo.InvariantCulture, $"{Name}_bucket{Braces(Join(labels, $"le=\"{Format(_buckets[i])}\""))} {series.Buckets[i]}\n");
                    }

                    text.Append(CultureInfo.InvariantCulture, $"{Name}_bucket{Braces(Join(labels, "le=\"+Inf\""))} {series.Count}\n");
                    text.Append(CultureInfo.InvariantCulture, $"{Name}_sum{Braces(labels)} {Format(series.Value)}\n");
                    text.Append(CultureInfo.InvariantCulture, $"{Name}_count{Braces(labels)} {series.Count}\n");
                }
            }
        }

        private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.IsEmpty)
            {
                return string.Empty;
            }

            var pairs = new List<string>(tags.Length);
            foreach (var tag in tags)
            {
                var value = Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? string.Empty;
                value = value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
                pairs.Add($"{Sanitize(tag.Key)}=\"{value}\"");
            }

            pairs.Sort(StringComparer.Ordinal);
            return string.Join(',', pairs);
        }

        private static string Join(string labels, string extra) => labels.Length == 0 ? extra : labels + "," + extra;

        private static string Braces(string labels) => labels.Length == 0 ? string.Empty : "{" + labels + "}";

        private static string Format(double value) => value.ToString("G17", CultureInfo.InvariantCulture);

        private static string Sanitize(string name)
        {
            var chars = name.ToCharArray();
            for (var i = 0; i < chars.Length; i++)
            {
                if (!char.IsAsciiLetterOrDigit(chars[i]) && chars[i] != '_')
                {
                    chars[i] = '_';
                }
            }

            return new string(chars);
        }
    }

    private sealed class Series(int buckets)
    {
        public long[] Buckets { get; } = new long[buckets];

        public long Count { get; set; }

        public double Value { get; set; }
    }
}
