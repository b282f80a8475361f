using System.Diagnostics;
using System.Globalization;

namespace Scaling.Testing;

/// <summary>
/// A tiny shell process, in its own session, that outlives the harness: if the owning process
/// disappears without tearing the servers down (a test run aborted, killed, crashed), it kills every
/// server process listed in the set's <c>pids</c> file, removes the System V shared memory segment each killed
/// PostgreSQL names in its <c>postmaster.pid</c> (line 7; a killed postmaster leaves it behind) and removes the set's
/// folder. A normal teardown kills the watchdog first.
/// </summary>
internal sealed class Watchdog
{
    private const string Script = """
        owner="$1"; dir="$2"
        while kill -0 "$owner" 2>/dev/null; do sleep 0.5; done
        if [ -f "$dir/pids" ]; then
          for pid in $(cat "$dir/pids"); do kill -CONT "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null; done
        fi
        sleep 1
        for lock in "$dir"/*/postmaster.pid; do
          [ -f "$lock" ] || continue
          segment=$(sed -n 7p "$lock" | awk '{print $2}')
          [ -n "$segment" ] && ipcrm -m "$segment" 2>/dev/null
        done
        rm -rf "$dir"
        """;

    private readonly Process _process;

    private Watchdog(Process process) => _process = process;

    /// <summary>Starts the watchdog for the current process and the set's folder.</summary>
    public static Watchdog Start(string directory)
    {
        var startInfo = new ProcessStartInfo("setsid") { UseShellExecute = false, WorkingDirectory = "/" };
        startInfo.ArgumentList.Add("/bin/sh");
        startInfo.ArgumentList.Add("-c");
        startInfo.ArgumentList.Add("exec </dev/null >/dev/null 2>&1; " + Script.ReplaceLineEndings("\n"));
        startInfo.ArgumentList.Add("scaling-servers-watchdog");
        startInfo.ArgumentList.Add(Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        startInfo.ArgumentList.Add(directory);
        return new Watchdog(Process.Start(startInfo)!);
    }

    /// <summary>Ends the watchdog (the owner tears down itself).</summary>
    public void Stop()
    {
        Posix.Signal(_process.Id, Posix.SigKill);
        _process.WaitForExit();
        _process.Dispose();
    }
}
