using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Scaling.Testing;

namespace Scaling.TestServers.Tests;

public sealed partial class AbortCleanupTests
{
    [Fact]
    public async Task Servers_of_a_killed_owner_are_killed_and_their_folder_removed()
    {
        // The harness's own command line, run as a separate process that we then kill with SIGKILL
        // (no chance to clean up): the watchdog must remove every server and the folder.
        var cli = Path.Combine(AppContext.BaseDirectory, "Scaling.TestServers.dll");
        var startInfo = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in new[] { cli, "exec", "--", "sleep", "300" })
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var owner = Process.Start(startInfo)!;
        string? folder = null;
        try
        {
            while (folder is null && await owner.StandardError.ReadLineAsync() is { } line)
            {
                var match = ReadyLine().Match(line);
                folder = match.Success ? match.Groups[1].Value : null;
            }

            Assert.NotNull(folder);
            var pids = (await File.ReadAllLinesAsync(Path.Combine(folder, "pids")))
                .Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
            Assert.True(pids.Length >= 7, $"expected every server in the pids file, found {pids.Length}");
            var serverProcesses = pids.Select(pid => File.ReadAllText($"/proc/{pid}/comm").Trim())
                .Count(name => name is "postgres" or "redis-server");
            Assert.Equal(7, serverProcesses); // each server process itself, not only a runuser wrapper
            Assert.All(pids, pid => Assert.True(IsAlive(pid)));
            var segments = Directory.GetFiles(folder, "postmaster.pid", SearchOption.AllDirectories)
                .Select(f => File.ReadAllLines(f)[6].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]).ToArray();
            Assert.Equal(4, segments.Length); // one per PostgreSQL server

            owner.Kill(entireProcessTree: false); // SIGKILL the owner only
            await owner.WaitForExitAsync();

            await Eventually.TrueAsync(() => Task.FromResult(pids.All(pid => !IsAlive(pid)) && !Directory.Exists(folder)),
                TimeSpan.FromSeconds(15), "the watchdog to kill the servers and remove " + folder);
            var left = File.ReadLines("/proc/sysvipc/shm").Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]).ToHashSet();
            Assert.All(segments, segment => Assert.DoesNotContain(segment, left)); // the killed postmasters' shared memory segments are gone too
        }
        finally
        {
            if (!owner.HasExited)
            {
                owner.Kill(entireProcessTree: true);
            }
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"^Servers ready in .* \((.+)\):$")]
    private static partial Regex ReadyLine();
}
