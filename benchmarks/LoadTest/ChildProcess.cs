using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Scaling.LoadTest;

/// <summary>
/// A program the load test started (a BookingHost instance, nginx), its output in a log file. Stopped with SIGTERM, then
/// killed; the test servers' watchdog also kills it if the load test itself dies.
/// </summary>
internal sealed partial class ChildProcess : IAsyncDisposable, IPausable
{
    private readonly Process _process;

    private ChildProcess(string name, Process process, string logPath)
    {
        Name = name;
        _process = process;
        LogPath = logPath;
    }

    public string Name { get; }

    public string LogPath { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts <paramref name="fileName"/> with its output (stdout and stderr) appended to <paramref name="logPath"/>.</summary>
    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string logPath)
    {
        // sh redirects and then execs the program, so the process id is the program's own.
        var startInfo = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardInput = true };
        startInfo.ArgumentList.Add("-c");
        startInfo.ArgumentList.Add("exec \"$0\" \"$@\" >>\"$LOADTEST_LOG\" 2>&1");
        startInfo.ArgumentList.Add(fileName);
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            startInfo.Environment[key] = value;
        }

        startInfo.Environment["LOADTEST_LOG"] = logPath;
        var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        return new ChildProcess(name, process, logPath);
    }

    /// <summary>The last lines of the log, for an error message.</summary>
    public string Tail(int lines = 15)
    {
        try
        {
            return string.Join('\n', File.ReadLines(LogPath).TakeLast(lines));
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    /// <summary>SIGTERM (a graceful stop), then SIGKILL after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process.HasExited)
        {
            return;
        }

        _ = Kill(_process.Id, 15);
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None);
        }
    }

    /// <summary>SIGSTOP to the process and its children (nginx's workers): connected, but silent.</summary>
    public Task PauseAsync(CancellationToken cancellationToken) => SignalTreeAsync(19);

    /// <summary>SIGCONT to the process and its children.</summary>
    public Task ResumeAsync(CancellationToken cancellationToken) => SignalTreeAsync(18);

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
    }

    private Task SignalTreeAsync(int signal)
    {
        foreach (var pid in Deployment.ChildrenOf(_process.Id).Prepend(_process.Id))
        {
            _ = Kill(pid, signal);
        }

        return Task.CompletedTask;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
