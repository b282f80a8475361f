using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace LoadTest.Tests;

/// <summary>
/// The load generator as a real process: stopped in the middle of a run (SIGTERM, as Ctrl+C or a CI timeout would) or
/// killed outright (SIGKILL), it leaves no BookingHost, nginx, PostgreSQL or Redis process behind and removes the
/// servers' folder.
/// </summary>
public sealed class CleanupTests
{
    [Theory]
    [InlineData(15, 1)] // SIGTERM: the generator stops everything itself and exits with 1 (no report)
    [InlineData(9, -1)] // SIGKILL: the test servers' watchdog kills what it started
    public async Task A_stopped_or_killed_run_leaves_no_process_behind(int signal, int expectedExitCode)
    {
        var output = Directory.CreateTempSubdirectory("loadtest-cleanup-").FullName;
        var startInfo = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "LoadTest.dll"), "--smoke", "--duration", "5m", "--sse", "5", "--out", output })
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var generator = Process.Start(startInfo)!;
        var log = new StringBuilder();
        var loadStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        generator.OutputDataReceived += (_, e) =>
        {
            lock (log)
            {
                log.AppendLine(e.Data);
            }

            if (e.Data?.StartsWith("Load:", StringComparison.Ordinal) == true)
            {
                loadStarted.TrySetResult();
            }
        };
        generator.ErrorDataReceived += (_, e) =>
        {
            lock (log)
            {
                log.AppendLine(e.Data);
            }
        };
        generator.BeginOutputReadLine();
        generator.BeginErrorReadLine();
        try
        {
            await loadStarted.Task.WaitAsync(TimeSpan.FromMinutes(4));
        }
        catch (TimeoutException)
        {
            generator.Kill(entireProcessTree: true);
            Assert.Fail("The load never started:\n" + log);
        }

        var started = ProcessesOf(output);
        Assert.Equal(2, started.Count(p => p.Name == "dotnet" && p.Environment.Contains("LOADTEST_LOG=" + output, StringComparison.Ordinal))); // 2 instances
        Assert.Contains(started, p => p.Name == "nginx");
        var serversFolder = started.Select(p => ValueOf(p.Environment, "SCALING_SERVERS_MANIFEST")).First(v => v is not null)!;
        serversFolder = Path.GetDirectoryName(serversFolder)!;
        Assert.True(Directory.Exists(serversFolder));
        Assert.NotEmpty(ProcessesMentioning(serversFolder));

        Assert.Equal(0, Kill(generator.Id, signal));
        await generator.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(90));
        if (expectedExitCode >= 0)
        {
            Assert.Equal(expectedExitCode, generator.ExitCode);
            lock (log)
            {
                Assert.Contains("stopping (signal); cleaning up", log.ToString(), StringComparison.Ordinal);
            }
        }

        // Everything it started is gone (the watchdog polls twice a second, then removes the folder).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((ProcessesOf(output).Any(p => p.Pid != generator.Id) || ProcessesMentioning(serversFolder).Count > 0 || Directory.Exists(serversFolder)) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
        }

        Assert.Empty(ProcessesOf(output).Where(p => p.Pid != generator.Id).Select(p => $"{p.Pid} {p.Name}"));
        Assert.Empty(ProcessesMentioning(serversFolder));
        Assert.False(Directory.Exists(serversFolder), $"{serversFolder} was not removed");
        Directory.Delete(output, recursive: true);
    }

    /// <summary>
    /// Processes the run started itself: BookingHost (its environment names the run's folder for its log) and nginx (its
    /// command line names its folder inside the run's).
    /// </summary>
    private static List<(int Pid, string Name, string Environment)> ProcessesOf(string output)
        => [.. AllProcesses().Where(p => p.Environment.Contains(output, StringComparison.Ordinal) || p.CommandLine.Contains(output, StringComparison.Ordinal))
            .Select(p => (p.Pid, p.Name, p.Environment))];

    /// <summary>Processes whose command line or environment mentions <paramref name="text"/> (the servers' folder).</summary>
    private static List<int> ProcessesMentioning(string text)
        => [.. AllProcesses().Where(p => p.Environment.Contains(text, StringComparison.Ordinal) || p.CommandLine.Contains(text, StringComparison.Ordinal)).Select(p => p.Pid)];

    private static IEnumerable<(int Pid, string Name, string Environment, string CommandLine)> AllProcesses()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            string name, environment, commandLine, state;
            try
            {
                name = File.ReadAllText(Path.Combine(dir, "comm")).Trim();
                environment = File.ReadAllText(Path.Combine(dir, "environ")).Replace('\0', '\n');
                commandLine = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                state = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            // A zombie (exited, not yet reaped by a parent that is not waiting) is not a running process.
            if (state[(state.LastIndexOf(')') + 2)..].StartsWith('Z'))
            {
                continue;
            }

            yield return (pid, name, environment, commandLine);
        }
    }

    private static string? ValueOf(string environment, string name)
        => environment.Split('\n').FirstOrDefault(line => line.StartsWith(name + "=", StringComparison.Ordinal))?[(name.Length + 1)..];

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);
}
