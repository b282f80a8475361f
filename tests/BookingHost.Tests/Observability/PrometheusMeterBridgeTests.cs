using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using BookingHost.Observability;
using Prometheus;

namespace BookingHost.Tests.Observability;

/// <summary>
/// The metrics bridge alone (a real prometheus-net registry, scraped as text): each series counts its own measurements,
/// those it keeps and finds again by the tags' values as well as those past the kept ones.
/// </summary>
public sealed partial class PrometheusMeterBridgeTests
{
    [Fact]
    public async Task Each_series_counts_its_own_measurements_kept_or_not()
    {
        using var bridge = new PrometheusMeterBridge(meterFactory: null);
        using var meter = new Meter("BookingHost.BridgeTests." + Guid.NewGuid().ToString("N"));
        var requests = meter.CreateCounter<long>("bridge_test.requests");
        var duration = meter.CreateHistogram<double>("bridge_test.duration", unit: "s");

        // 100 routes × 2 outcomes: three times the series the bridge keeps for one set of tag names. Each route's string
        // is made again for every measurement, so a kept series is found by value, not by reference.
        for (var round = 0; round < 3; round++)
        {
            for (var route = 0; route < 100; route++)
            {
                foreach (var ok in new[] { true, false })
                {
                    var name = "r" + route.ToString(CultureInfo.InvariantCulture);
                    requests.Add(1, new("route", name), new("ok", ok));
                    duration.Record(ok ? 0.25 : 2, new("ok", ok), new("route", name)); // the same names in another order
                }
            }
        }

        requests.Add(5, new("route", "r7"), new("ok", false));

        var text = await ScrapeAsync(bridge.Registry);
        var counts = Series(text, "bridge_test_requests_total");
        Assert.Equal(200, counts.Count);
        Assert.All(counts.Where(c => c.Key != "ok=\"False\",route=\"r7\""), c => Assert.Equal(3, c.Value));
        Assert.Equal(8, counts["ok=\"False\",route=\"r7\""]);

        var observed = Series(text, "bridge_test_duration_seconds_count");
        Assert.Equal(200, observed.Count);
        Assert.All(observed, c => Assert.Equal(3, c.Value));
        var sums = Series(text, "bridge_test_duration_seconds_sum");
        Assert.Equal(0.75, sums["ok=\"True\",route=\"r0\""], 6);
        Assert.Equal(6, sums["ok=\"False\",route=\"r99\""], 6);
    }

    private static async Task<string> ScrapeAsync(CollectorRegistry registry)
    {
        using var stream = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(stream);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The samples of one metric, by their labels as written (<c>a="x",b="y"</c>).</summary>
    private static Dictionary<string, double> Series(string text, string metric)
    {
        var series = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (Match match in Sample().Matches(text))
        {
            if (match.Groups["name"].Value == metric)
            {
                series.Add(match.Groups["labels"].Value, double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture));
            }
        }

        return series;
    }

    [GeneratedRegex(@"^(?<name>[a-z_]+)\{(?<labels>[^}]*)\} (?<value>\S+)$", RegexOptions.Multiline)]
    private static partial Regex Sample();
}
