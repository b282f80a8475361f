using System.Globalization;

namespace Scaling.LoadTest;

/// <summary>
/// Counters read from every instance's <c>/metrics</c> (Prometheus text), summed over the instances, so a run can
/// report what only the hosts know: the cache hit rate by tier. An instance too overloaded to answer <c>/metrics</c>
/// within 10 s leaves the scrape incomplete (the rate is then not reported) rather than ending the run.
/// </summary>
internal sealed class HostMetrics
{
    private readonly Dictionary<string, double> _series;

    private HostMetrics(Dictionary<string, double> series, IReadOnlyList<string> failures)
    {
        _series = series;
        Failures = failures;
    }

    /// <summary>The instances that did not answer, with the reason (empty when every one did).</summary>
    public IReadOnlyList<string> Failures { get; }

    public static async Task<HostMetrics> ScrapeAsync(IEnumerable<Uri> hosts, CancellationToken cancellationToken)
    {
        var series = new Dictionary<string, double>(StringComparer.Ordinal);
        var failures = new List<string>();
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var host in hosts)
        {
            string text;
            try
            {
                text = await client.GetStringAsync(new Uri(host, "/metrics"), cancellationToken);
            }
            catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                failures.Add($"{host}: {e.Message}");
                continue;
            }

            foreach (var line in text.Split('\n'))
            {
                if (line.Length == 0 || line[0] == '#')
                {
                    continue;
                }

                var space = line.LastIndexOf(' ');
                if (space > 0 && double.TryParse(line.AsSpan(space + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                {
                    var key = line[..space];
                    series[key] = series.GetValueOrDefault(key) + value;
                }
            }
        }

        return new HostMetrics(series, failures);
    }

    /// <summary>The sum of the series of <paramref name="name"/> whose labels include every one of <paramref name="labels"/>.</summary>
    public double Sum(string name, params string[] labels)
        => _series.Where(pair => (pair.Key == name || pair.Key.StartsWith(name + "{", StringComparison.Ordinal)) && labels.All(pair.Key.Contains))
            .Sum(pair => pair.Value);

    /// <summary>The change of a sum between two scrapes.</summary>
    public static double Delta(HostMetrics before, HostMetrics after, string name, params string[] labels)
        => after.Sum(name, labels) - before.Sum(name, labels);
}
