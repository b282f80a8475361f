using System.Globalization;
using System.Text.RegularExpressions;

namespace BookingHost.Tests.Observability;

/// <summary>A scrape in the Prometheus text format: each family's type, and each sample's value.</summary>
internal sealed partial class PrometheusText
{
    private readonly Dictionary<string, string> _types = new(StringComparer.Ordinal);
    private readonly List<(string Name, string Labels, double Value)> _samples = [];

    public PrometheusText(string text)
    {
        Text = text;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                _types[parts[2]] = parts[3];
            }
            else if (!line.StartsWith('#'))
            {
                var match = Sample().Match(line);
                Assert.True(match.Success, $"Not a Prometheus sample line: '{line}'");
                _samples.Add((match.Groups["name"].Value, match.Groups["labels"].Value, ParseValue(match.Groups["value"].Value)));
            }
        }
    }

    public string Text { get; }

    /// <summary>The family's declared type (counter, gauge, histogram), or null.</summary>
    public string? TypeOf(string family) => _types.GetValueOrDefault(family);

    /// <summary>The sum of the samples named <paramref name="name"/> whose labels contain every one of <paramref name="labels"/> (e.g. <c>tier="l1"</c>).</summary>
    public double Sum(string name, params string[] labels)
        => _samples.Where(s => s.Name == name && labels.All(l => s.Labels.Contains(l, StringComparison.Ordinal))).Sum(s => s.Value);

    /// <summary>Whether a sample is named <paramref name="name"/> with exactly these <paramref name="labels"/> (as written, in braces).</summary>
    public bool HasSample(string name, string labels) => _samples.Any(s => s.Name == name && "{" + s.Labels + "}" == labels);

    /// <summary>Whether any sample is named <paramref name="name"/>.</summary>
    public bool Has(string name) => _samples.Any(s => s.Name == name);

    private static double ParseValue(string value) => value switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(value, CultureInfo.InvariantCulture),
    };

    [GeneratedRegex("^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(?<labels>.*)\\})? (?<value>[-+0-9.eE]+|NaN|[+-]Inf)( [0-9]+)?$")]
    private static partial Regex Sample();
}
