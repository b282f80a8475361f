using System.Diagnostics;
using System.Globalization;

namespace Scaling.Testing;

/// <summary>
/// One server process started by the harness on a loopback port, with fault injection:
/// <see cref="StopAsync"/>, <see cref="KillAsync"/>, <see cref="PauseAsync"/>/<see cref="ResumeAsync"/>
/// and <see cref="RestartAsync"/>. Each server runs in its own session (<c>setsid</c>) so a terminal's
/// Ctrl+C reaches the harness, which tears the servers down in order, rather than the servers themselves.
/// </summary>
public abstract class ServerProcess
{
    private static readonly TimeSpan GracefulStopTimeout = TimeSpan.FromSeconds(15);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Process? _process;

    private protected ServerProcess(string name, int port, string directory, TimeSpan startTimeout)
    {
        Name = name;
        Port = port;
        Directory = directory;
        StartTimeout = startTimeout;
        LogPath = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(directory)!, name + ".log");
    }

    /// <summary>The server's name in the set, e.g. <c>shard1-primary</c> or <c>redis-2</c>.</summary>
    public string Name { get; }

    /// <summary>The loopback address the server listens on.</summary>
    public string Host { get; } = "127.0.0.1";

    /// <summary>The TCP port the server listens on; it keeps it across restarts.</summary>
    public int Port { get; }

    /// <summary>The server's data folder.</summary>
    public string Directory { get; }

    /// <summary>The file the server writes its log to (kept until the set is disposed).</summary>
    public string LogPath { get; }

    /// <summary>What the server is doing.</summary>
    public ServerState State { get; private set; } = ServerState.Stopped;

    /// <summary>The process id of the server's main process, while it runs.</summary>
    public int? ProcessId => State == ServerState.Stopped ? null : MainProcessId();

    /// <summary>How long a start may take before it is abandoned with a clear error.</summary>
    protected TimeSpan StartTimeout { get; }

    /// <summary>Raised after the server's processes changed (started, stopped, killed): the set records them for cleanup.</summary>
    internal event Action? ProcessesChanged;

    /// <summary>The process ids to kill if the owner dies without tearing down (root of the tree and the server itself).</summary>
    internal IEnumerable<int> TrackedProcessIds()
    {
        if (_process is { HasExited: false } p)
        {
            yield return p.Id;
            var main = MainProcessId();
            if (main != p.Id)
            {
                yield return main;
            }
        }
    }

    /// <summary>Starts the server and waits until it answers.</summary>
    internal Task StartAsync(CancellationToken cancellationToken) =>
        ExclusivelyAsync(() => StartCoreAsync(cancellationToken), cancellationToken);

    /// <summary>Graceful shutdown (the server's normal shutdown signal); waits until every process is gone.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) =>
        ExclusivelyAsync(async () =>
        {
            if (State == ServerState.Paused)
            {
                Posix.SignalTree(RootProcessId, Posix.SigCont);
            }

            if (State != ServerState.Stopped)
            {
                Posix.Signal(MainProcessId(), GracefulStopSignal);
                if (!await WaitForExitAsync(GracefulStopTimeout, cancellationToken))
                {
                    await KillTreeAsync(cancellationToken);
                }

                MarkStopped();
            }
        }, cancellationToken);

    /// <summary>Kills every process of the server with SIGKILL (a crash: no shutdown work) and waits until they are gone.</summary>
    public Task KillAsync(CancellationToken cancellationToken = default) =>
        ExclusivelyAsync(async () =>
        {
            if (State != ServerState.Stopped)
            {
                await KillTreeAsync(cancellationToken);
                MarkStopped();
            }
        }, cancellationToken);

    /// <summary>Suspends every process of the server (SIGSTOP): it stays up but nothing answers, as in a long GC pause or a hung host.</summary>
    public Task PauseAsync(CancellationToken cancellationToken = default) =>
        SignalAllAsync(ServerState.Running, ServerState.Paused, Posix.SigStop, "pause", cancellationToken);

    /// <summary>Resumes a paused server (SIGCONT).</summary>
    public Task ResumeAsync(CancellationToken cancellationToken = default) =>
        SignalAllAsync(ServerState.Paused, ServerState.Running, Posix.SigCont, "resume", cancellationToken);

    /// <summary>
    /// Starts the server again on the same port and data folder, stopping it gracefully first if it runs
    /// (a paused server is resumed first); returns once it answers.
    /// </summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        if (State != ServerState.Stopped)
        {
            await StopAsync(cancellationToken);
        }

        await StartAsync(cancellationToken);
    }

    /// <summary>Kills the server without waiting for the lock (teardown).</summary>
    internal async Task TearDownAsync()
    {
        if (_process is null)
        {
            return;
        }

        await KillTreeAsync(CancellationToken.None);
        MarkStopped();
    }

    /// <summary>The program and arguments that run the server in the foreground.</summary>
    private protected abstract IReadOnlyList<string> ServerCommand();

    /// <summary>Clean-up after every process of the server was killed (SIGKILL: it did no shutdown work of its own).</summary>
    private protected virtual void AfterKilled()
    {
    }

    /// <summary>Work before each start (e.g. removing a dead server's lock file).</summary>
    private protected virtual void BeforeStart()
    {
    }

    /// <summary>The signal that shuts the server down cleanly.</summary>
    private protected abstract int GracefulStopSignal { get; }

    /// <summary>One readiness probe: completes when the server answers, throws while it does not yet.</summary>
    private protected abstract Task ProbeAsync(CancellationToken cancellationToken);

    /// <summary>The id of the server process proper (PostgreSQL's postmaster, redis-server).</summary>
    private protected virtual int MainProcessId()
    {
        // Under runuser the server is the child of the runuser process; otherwise it is the process itself.
        if (!RunsThroughRunuser)
        {
            return RootProcessId;
        }

        var tree = Posix.ProcessTree(RootProcessId);
        return tree.Count > 1 ? tree[1] : RootProcessId;
    }

    /// <summary>True when the command starts with <c>runuser</c>, so the server is a child of the started process.</summary>
    private protected virtual bool RunsThroughRunuser => false;

    private int RootProcessId => _process?.Id ?? 0;

    private async Task ExclusivelyAsync(Func<Task> action, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await action();
        }
        finally
        {
            _gate.Release();
        }
    }

    private Task SignalAllAsync(ServerState from, ServerState to, int signal, string action, CancellationToken cancellationToken) =>
        ExclusivelyAsync(() =>
        {
            EnsureState(from, action);
            Posix.SignalTree(RootProcessId, signal);
            State = to;
            return Task.CompletedTask;
        }, cancellationToken);

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        if (State != ServerState.Stopped)
        {
            throw new InvalidOperationException($"{Name} is already {State.ToString().ToLowerInvariant()}; stop it before starting it.");
        }

        BeforeStart();
        var logOffset = File.Exists(LogPath) ? new FileInfo(LogPath).Length : 0;
        var startInfo = new ProcessStartInfo("setsid")
        {
            UseShellExecute = false,
            WorkingDirectory = System.IO.Path.GetDirectoryName(Directory)!,
        };
        startInfo.ArgumentList.Add("/bin/sh");
        startInfo.ArgumentList.Add("-c");
        startInfo.ArgumentList.Add("exec \"$@\" </dev/null >>\"$SCALING_SERVER_LOG\" 2>&1");
        startInfo.ArgumentList.Add("sh");
        foreach (var argument in ServerCommand())
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.Environment["SCALING_SERVER_LOG"] = LogPath;
        startInfo.Environment["LC_ALL"] = "C";

        try
        {
            _process = Process.Start(startInfo)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new TestServerException($"{Name} could not be started because 'setsid' is missing ({ex.Message}); install util-linux.", ex);
        }

        State = ServerState.Running;
        ProcessesChanged?.Invoke();

        var stopwatch = Stopwatch.StartNew();
        Exception? lastProbeError = null;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process.HasExited)
            {
                var log = ReadLog(logOffset);
                MarkStopped();
                if (log.Contains("Address already in use", StringComparison.Ordinal))
                {
                    throw new PortInUseException(Name, Port);
                }

                throw new TestServerException(
                    $"{Name} exited during start with code {_process.ExitCode}: {CommandRunner.Tail(log, 1200)}");
            }

            try
            {
                using var probeTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                probeTimeout.CancelAfter(TimeSpan.FromSeconds(2));
                await ProbeAsync(probeTimeout.Token);

                // Record the processes again now that the server answers: under runuser the server
                // itself is forked after the start and was not there to record at the first notice.
                ProcessesChanged?.Invoke();
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                lastProbeError = ex;
            }

            if (stopwatch.Elapsed > StartTimeout)
            {
                await KillTreeAsync(CancellationToken.None);
                MarkStopped();
                throw new TestServerException(
                    $"{Name} did not answer on 127.0.0.1:{Port} within {StartTimeout.TotalSeconds:0} s " +
                    $"(last error: {lastProbeError?.Message}); its log: {CommandRunner.Tail(ReadLog(logOffset), 800)}");
            }

            await Task.Delay(25, cancellationToken);
        }
    }

    private async Task KillTreeAsync(CancellationToken cancellationToken)
    {
        if (_process is null)
        {
            return;
        }

        // Kill the descendants before the started process: under runuser the started process then reaps
        // the server (no zombie left holding the server's pid) and exits by itself.
        var tree = Posix.ProcessTree(_process.Id);
        for (var round = 0; round < 2; round++)
        {
            foreach (var pid in Posix.ProcessTree(_process.Id).Skip(1))
            {
                Posix.Signal(pid, Posix.SigCont);
                Posix.Signal(pid, Posix.SigKill);
            }
        }

        using (var grace = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            grace.CancelAfter(tree.Count > 1 ? TimeSpan.FromSeconds(2) : TimeSpan.Zero);
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                Posix.Signal(_process.Id, Posix.SigCont);
                Posix.Signal(_process.Id, Posix.SigKill);
                await _process.WaitForExitAsync(cancellationToken);
            }
        }

        await WaitUntilGoneAsync(tree, TimeSpan.FromSeconds(10), cancellationToken);
        AfterKilled();
    }

    private async Task<bool> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var tree = Posix.ProcessTree(RootProcessId);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await _process!.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }

        return await WaitUntilGoneAsync(tree, timeout, cancellationToken);
    }

    private static async Task<bool> WaitUntilGoneAsync(IReadOnlyList<int> pids, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        while (pids.Any(Posix.IsAlive))
        {
            if (stopwatch.Elapsed > timeout)
            {
                return false;
            }

            await Task.Delay(10, cancellationToken);
        }

        return true;
    }

    private void MarkStopped()
    {
        State = ServerState.Stopped;
        ProcessesChanged?.Invoke();
    }

    private void EnsureState(ServerState expected, string action)
    {
        if (State != expected)
        {
            throw new InvalidOperationException(
                string.Create(CultureInfo.InvariantCulture, $"Cannot {action} {Name}: it is {State.ToString().ToLowerInvariant()}, not {expected.ToString().ToLowerInvariant()}."));
        }
    }

    private string ReadLog(long offset)
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            stream.Seek(Math.Min(offset, stream.Length), SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }
}
