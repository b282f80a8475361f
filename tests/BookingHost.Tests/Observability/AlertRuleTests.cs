namespace BookingHost.Tests.Observability;

/// <summary>
/// BookingHost's Prometheus rules (samples/BookingHost/prometheus): valid for promtool, and each alert fires and clears
/// on made-up series in booking-rules.test.yml. That the series they read exist in a real host's scrape is checked by
/// <see cref="ObservabilityTests"/>.
/// </summary>
public sealed class AlertRuleTests
{
    [Fact]
    public async Task The_rules_file_passes_promtool_check_rules()
    {
        var (exitCode, output) = await Promtool.RunAsync(["check", "rules", "booking-rules.yml"], workingDirectory: RepositoryFiles.PrometheusFolder);
        Assert.True(exitCode == 0, $"promtool check rules failed ({exitCode}):\n{output}");
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_alert_fires_and_clears_in_promtool_test_rules()
    {
        var folder = RepositoryFiles.PrometheusFolder;
        var (exitCode, output) = await Promtool.RunAsync(["test", "rules", "booking-rules.test.yml"], workingDirectory: folder);
        Assert.True(exitCode == 0, $"promtool test rules failed ({exitCode}):\n{output}");

        // Every alert of the rules file is tested (named in an alert_rule_test of the unit tests).
        var rules = await File.ReadAllTextAsync(Path.Combine(folder, "booking-rules.yml"));
        var tests = await File.ReadAllTextAsync(Path.Combine(folder, "booking-rules.test.yml"));
        var alerts = System.Text.RegularExpressions.Regex.Matches(rules, @"(?m)^\s*- alert: (\w+)").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(alerts);
        Assert.All(alerts, alert => Assert.Contains($"alertname: {alert}\n", tests, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_example_prometheus_configuration_passes_promtool_check_config()
    {
        var (exitCode, output) = await Promtool.RunAsync(["check", "config", "prometheus.yml"], workingDirectory: RepositoryFiles.PrometheusFolder);
        Assert.True(exitCode == 0, $"promtool check config failed ({exitCode}):\n{output}");
    }
}
