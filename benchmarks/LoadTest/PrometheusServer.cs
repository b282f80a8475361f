using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Scaling.LoadTest;

/// <summary>
/// A real Prometheus (Debian's package) for one run: a temporary folder for its data, loopback only, scraping every
/// BookingHost instance every 2 s and evaluating BookingHost's own rules (samples/BookingHost/prometheus) each second. A
/// scrape that fails (an instance too loaded to answer within 2 s) ends every series of that instance, which restarts
/// the <c>for</c> of its alerts.
/// The report's server-side figures and the alerts come from PromQL queries to it.
/// </summary>
internal sealed class PrometheusServer : IAsyncDisposable
{
    private readonly ChildProcess _process;
    private readonly HttpClient _client;
    private readonly DirectoryInfo _data;

    private PrometheusServer(ChildProcess process, Uri uri, DirectoryInfo data)
    {
        _process = process;
        _data = data;
        Uri = uri;
        _client = new HttpClient { BaseAddress = uri, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri Uri { get; }

    public int Id => _process.Id;

    /// <summary>Writes the configuration (beside the run's other files), starts Prometheus and waits until it is ready.</summary>
    public static async Task<PrometheusServer> StartAsync(string repositoryRoot, string outputDirectory, IPAddress address, int port, IReadOnlyList<Uri> targets, CancellationToken cancellationToken)
    {
        var binary = new[] { "/usr/bin/prometheus", "/usr/local/bin/prometheus" }.FirstOrDefault(File.Exists)
            ?? throw new EnvironmentException("Prometheus is not installed: 'apt-get install -y prometheus' (eng/load-test.sh installs it when missing).");
        var directory = Path.Combine(outputDirectory, "prometheus");
        Directory.CreateDirectory(directory);
        File.Copy(Path.Combine(repositoryRoot, "samples", "BookingHost", "prometheus", "booking-rules.yml"), Path.Combine(directory, "booking-rules.yml"), overwrite: true);
        var config = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(config, Configuration(targets), cancellationToken);

        var data = Directory.CreateTempSubdirectory("loadtest-prometheus-");
        var listen = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]:{port}" : $"{address}:{port}";
        var process = ChildProcess.Start(
            "prometheus",
            binary,
            [$"--config.file={config}", $"--storage.tsdb.path={data.FullName}", $"--web.listen-address={listen}", "--storage.tsdb.retention.time=1d", "--log.level=warn"],
            new Dictionary<string, string>(),
            Path.Combine(outputDirectory, "prometheus.log"));
        var server = new PrometheusServer(process, new Uri($"http://{listen}"), data);
        try
        {
            await server.WaitReadyAsync(cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>The configuration: both instances as one job, scraped every 2 s; rules evaluated every second.</summary>
    public static string Configuration(IReadOnlyList<Uri> targets)
    {
        var text = new StringBuilder();
        text.Append("global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\n  evaluation_interval: 1s\n\n");
        text.Append("rule_files:\n  - booking-rules.yml\n\n");
        text.Append("scrape_configs:\n  - job_name: booking\n    static_configs:\n      - targets:\n");
        foreach (var target in targets)
        {
            text.Append(CultureInfo.InvariantCulture, $"          - '{target.Authority}'\n");
        }

        return text.ToString();
    }

    /// <summary>
    /// Waits until every one of the <paramref name="targets"/> instances has been scraped successfully, so that the
    /// measured window opens after a scrape of each (the report's figures count from it).
    /// </summary>
    public async Task WaitForScrapesAsync(int targets, TimeSpan limit, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + limit;
        while (true)
        {
            var up = await ScalarAsync("count(up{job=\"booking\"} == 1)", DateTimeOffset.UtcNow, cancellationToken) ?? 0;
            if (up >= targets)
            {
                return;
            }

            if (DateTimeOffset.UtcNow >= deadline)
            {
                throw new InvalidOperationException($"Prometheus had scraped {up:0} of {targets} BookingHost instances {limit.TotalSeconds:0} s after the start; the end of {_process.LogPath}:\n{_process.Tail()}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
        }
    }

    /// <summary>An instant query's samples at <paramref name="at"/>: each series' labels and value.</summary>
    public async Task<IReadOnlyList<(IReadOnlyDictionary<string, string> Labels, double Value)>> QueryAsync(string query, DateTimeOffset at, CancellationToken cancellationToken)
    {
        using var document = await GetAsync($"/api/v1/query?query={Uri.EscapeDataString(query)}&time={Seconds(at)}", cancellationToken);
        var result = document.RootElement.GetProperty("data").GetProperty("result");
        return [.. result.EnumerateArray().Select(s => (Labels(s), Value(s.GetProperty("value"))))];
    }

    /// <summary>One number: the first sample of an instant query, or null when the query has none (or it is not a number).</summary>
    public async Task<double?> ScalarAsync(string query, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var samples = await QueryAsync(query, at, cancellationToken);
        return samples.Count > 0 && double.IsFinite(samples[0].Value) ? samples[0].Value : null;
    }

    /// <summary>A range query's series: each series' labels and its (time, value) points.</summary>
    public async Task<IReadOnlyList<(IReadOnlyDictionary<string, string> Labels, IReadOnlyList<(DateTimeOffset At, double Value)> Points)>> QueryRangeAsync(
        string query, DateTimeOffset from, DateTimeOffset to, TimeSpan step, CancellationToken cancellationToken)
    {
        using var document = await GetAsync(
            $"/api/v1/query_range?query={Uri.EscapeDataString(query)}&start={Seconds(from)}&end={Seconds(to)}&step={step.TotalSeconds.ToString(CultureInfo.InvariantCulture)}",
            cancellationToken);
        var result = document.RootElement.GetProperty("data").GetProperty("result");
        return
        [
            .. result.EnumerateArray().Select(s => (Labels(s), (IReadOnlyList<(DateTimeOffset, double)>)
                [.. s.GetProperty("values").EnumerateArray().Select(v => (DateTimeOffset.FromUnixTimeMilliseconds((long)(v[0].GetDouble() * 1000)), Value(v)))])),
        ];
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _process.DisposeAsync();
        try
        {
            _data.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Left in the temporary folder; nothing depends on it.
        }
    }

    private async Task WaitReadyAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"Prometheus exited while starting; the end of {_process.LogPath}:\n{_process.Tail()}");
            }

            try
            {
                using var response = await _client.GetAsync("/-/ready", cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"Prometheus was not ready at {Uri} within a minute; the end of {_process.LogPath}:\n{_process.Tail()}");
            }

            await Task.Delay(200, cancellationToken);
        }
    }

    private async Task<JsonDocument> GetAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await _client.GetAsync(path, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"Prometheus answered {(int)response.StatusCode} to {path}: {body}");
        }

        return JsonDocument.Parse(body);
    }

    private static Dictionary<string, string> Labels(JsonElement series)
        => series.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? string.Empty, StringComparer.Ordinal);

    private static double Value(JsonElement point) => point[1].GetString() switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        var text => double.Parse(text!, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    /// <summary>A time as PromQL and the HTTP API take it: Unix seconds with milliseconds.</summary>
    public static string Seconds(DateTimeOffset at) => (at.ToUnixTimeMilliseconds() / 1000.0).ToString("0.000", CultureInfo.InvariantCulture);
}
