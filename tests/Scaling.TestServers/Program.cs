using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Scaling.Testing;

// Command line of the harness:
//   exec [--base-port N] -- <command> [args...]   start the servers, run the command with their addresses in its
//                                                 environment, tear everything down when it ends (or on Ctrl+C).
const string usage = "usage: Scaling.TestServers exec [--base-port N] -- <command> [args...]";
if (args.Length < 3 || args[0] != "exec" || Array.IndexOf(args, "--") < 0)
{
    Console.Error.WriteLine(usage);
    return 2;
}

var separator = Array.IndexOf(args, "--");
var options = new TestServerOptions();
for (var i = 1; i < separator; i++)
{
    if (args[i] == "--base-port" && i + 1 < separator && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var basePort) && basePort is > 0 and < 65530)
    {
        options.BasePort = basePort;
        i++;
    }
    else
    {
        Console.Error.WriteLine($"unknown or malformed option '{args[i]}'; {usage}");
        return 2;
    }
}

var command = args[(separator + 1)..];
if (command.Length == 0)
{
    Console.Error.WriteLine(usage);
    return 2;
}

TestServers servers;
try
{
    Console.Error.WriteLine("Starting PostgreSQL (shard 1 primary + replica, shard 2, metadata) and 3 Redis masters...");
    servers = await TestServers.StartAsync(options);
}
catch (TestServerException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 3;
}

await using (servers)
{
    Console.Error.WriteLine($"Servers ready in {servers.StartupTime.TotalSeconds:0.0} s ({servers.RootDirectory}):");
    foreach (var server in servers.All)
    {
        Console.Error.WriteLine($"  {server.Name,-15} 127.0.0.1:{server.Port}");
    }

    var startInfo = new ProcessStartInfo(command[0]) { UseShellExecute = false };
    foreach (var argument in command[1..])
    {
        startInfo.ArgumentList.Add(argument);
    }

    foreach (var (name, value) in servers.EnvironmentVariables())
    {
        startInfo.Environment[name] = value;
    }

    using var child = Process.Start(startInfo)!;

    // Ctrl+C / SIGTERM: ask the command to stop with SIGTERM (a process started in the background may
    // ignore SIGINT; an ASP.NET Core host shuts down gracefully on SIGTERM), kill it if it has not
    // stopped within 20 s, then tear the servers down.
    using var stopRequested = new CancellationTokenSource();
    void Forward(PosixSignalContext context)
    {
        context.Cancel = true;
        if (!child.HasExited)
        {
            _ = Posix.Signal(child.Id, Posix.SigTerm);
            stopRequested.CancelAfter(TimeSpan.FromSeconds(20));
        }
    }

    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Forward);
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Forward);
    try
    {
        await child.WaitForExitAsync(stopRequested.Token);
    }
    catch (OperationCanceledException)
    {
        Console.Error.WriteLine($"'{command[0]}' did not stop within 20 s of SIGTERM; killing it.");
        child.Kill(entireProcessTree: true);
        await child.WaitForExitAsync();
    }

    Console.Error.WriteLine($"'{command[0]}' exited with code {child.ExitCode}; stopping the servers.");
    return child.ExitCode;
}
