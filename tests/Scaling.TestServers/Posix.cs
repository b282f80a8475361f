using System.Globalization;
using System.Runtime.InteropServices;

namespace Scaling.Testing;

/// <summary>Linux process primitives the harness needs: signals, process trees, the current user.</summary>
internal static partial class Posix
{
    public const int SigInt = 2;
    public const int SigQuit = 3;
    public const int SigKill = 9;
    public const int SigTerm = 15;
    public const int SigCont = 18;
    public const int SigStop = 19;

    /// <summary>True when this process runs as root (PostgreSQL must then run as the postgres user).</summary>
    public static bool IsRoot => geteuid() == 0;

    /// <summary>Sends <paramref name="signal"/> to one process; false when it no longer exists.</summary>
    public static bool Signal(int pid, int signal) => pid > 0 && kill(pid, signal) == 0;

    /// <summary>True while the process exists and is not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        if (pid <= 0 || kill(pid, 0) != 0)
        {
            return false;
        }

        var stat = ReadStat(pid);
        return stat is not null && stat.Value.State != 'Z';
    }

    /// <summary>True when the process is stopped (SIGSTOP).</summary>
    public static bool IsStopped(int pid) => ReadStat(pid)?.State is 'T';

    /// <summary>The process and all its descendants, parents before children.</summary>
    public static IReadOnlyList<int> ProcessTree(int rootPid)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            var stat = ReadStat(pid);
            if (stat is null)
            {
                continue;
            }

            if (!children.TryGetValue(stat.Value.ParentPid, out var list))
            {
                children[stat.Value.ParentPid] = list = [];
            }

            list.Add(pid);
        }

        var result = new List<int>();
        if (!IsAlive(rootPid))
        {
            return result;
        }

        var queue = new Queue<int>();
        queue.Enqueue(rootPid);
        while (queue.Count > 0)
        {
            var pid = queue.Dequeue();
            result.Add(pid);
            if (children.TryGetValue(pid, out var kids))
            {
                foreach (var kid in kids)
                {
                    queue.Enqueue(kid);
                }
            }
        }

        return result;
    }

    /// <summary>Sends a signal to every process of a tree (parents first).</summary>
    public static void SignalTree(int rootPid, int signal)
    {
        foreach (var pid in ProcessTree(rootPid))
        {
            Signal(pid, signal);
        }
    }

    /// <summary>Removes a System V shared memory segment (<c>shmctl(IPC_RMID)</c>); false when it no longer exists.</summary>
    public static bool RemoveSharedMemorySegment(int id) => shmctl(id, 0 /* IPC_RMID */, IntPtr.Zero) == 0;

    private static (char State, int ParentPid)? ReadStat(int pid)
    {
        try
        {
            // Format: "pid (comm) S ppid ...": comm may hold spaces and parentheses, so parse after the last ')'.
            var text = File.ReadAllText($"/proc/{pid}/stat");
            var close = text.LastIndexOf(')');
            var fields = text[(close + 2)..].Split(' ');
            return (fields[0][0], int.Parse(fields[1], CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    [LibraryImport("libc")]
    private static partial uint geteuid();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int shmctl(int shmid, int cmd, IntPtr buf);
}
