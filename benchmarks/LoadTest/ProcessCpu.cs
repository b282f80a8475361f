using System.Globalization;

namespace Scaling.LoadTest;

/// <summary>
/// CPU time of process trees from <c>/proc</c> (user + system, including reaped children), so the report can say where
/// the machine's cores went: the load generator, the instances, nginx, PostgreSQL, Redis.
/// </summary>
internal static class ProcessCpu
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux

    /// <summary>
    /// CPU seconds used so far by each group's process trees. A tree stops at another group's root (the load generator
    /// started the servers, the instances and nginx, but their time is theirs).
    /// </summary>
    public static Dictionary<string, double> Snapshot(IReadOnlyList<(string Group, int ProcessId)> roots)
    {
        var stats = ReadAll();
        var rootIds = roots.Select(r => r.ProcessId).ToHashSet();
        var children = stats.Values.GroupBy(s => s.Parent).ToDictionary(g => g.Key, g => g.Select(s => s.Pid).ToList());
        var totals = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (group, root) in roots)
        {
            var seconds = 0.0;
            var pending = new Stack<int>([root]);
            while (pending.TryPop(out var pid))
            {
                if (stats.TryGetValue(pid, out var stat))
                {
                    seconds += stat.CpuTicks / TicksPerSecond;
                }

                foreach (var child in children.GetValueOrDefault(pid) ?? [])
                {
                    if (!rootIds.Contains(child))
                    {
                        pending.Push(child);
                    }
                }
            }

            totals[group] = totals.GetValueOrDefault(group) + seconds;
        }

        return totals;
    }

    private static Dictionary<int, (int Pid, int Parent, long CpuTicks)> ReadAll()
    {
        var all = new Dictionary<int, (int, int, long)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            string text;
            try
            {
                text = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue; // exited meanwhile
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            // The command name is in parentheses and may contain spaces: fields start after the last ')'.
            var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            long Field(int number) => long.Parse(fields[number - 3], CultureInfo.InvariantCulture);
            all[pid] = (pid, (int)Field(4), Field(14) + Field(15) + Field(16) + Field(17));
        }

        return all;
    }
}
