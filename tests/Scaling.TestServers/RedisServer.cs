using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Scaling.Testing;

/// <summary>
/// A <c>redis-server</c> on a loopback port, without persistence (a killed server comes back empty,
/// as a real crashed master without AOF does).
/// </summary>
public sealed class RedisServer : ServerProcess
{
    private readonly string _program;
    private readonly IReadOnlyList<string> _extraArguments;

    internal RedisServer(string name, int port, string directory, string program, TimeSpan startTimeout, IReadOnlyList<string>? extraArguments = null)
        : base(name, port, directory, startTimeout)
    {
        _program = program;
        _extraArguments = extraArguments ?? [];
        System.IO.Directory.CreateDirectory(directory);
    }

    /// <summary>The endpoint as StackExchange.Redis and most clients take it: <c>127.0.0.1:port</c>.</summary>
    public string EndPoint => string.Create(CultureInfo.InvariantCulture, $"{Host}:{Port}");

    /// <summary>
    /// Sends <c>PING</c> over a new connection and returns the reply (<c>PONG</c>). A stopped server
    /// refuses the connection (<see cref="SocketException"/>); a paused one accepts it in the kernel
    /// but never answers, so the call ends with <see cref="TimeoutException"/> after <paramref name="timeout"/>.
    /// </summary>
    public async Task<string> PingAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            using var client = new TcpClient { NoDelay = true };
            await client.ConnectAsync(Host, Port, deadline.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), deadline.Token);
            var buffer = new byte[64];
            var read = await stream.ReadAsync(buffer, deadline.Token);
            var reply = Encoding.ASCII.GetString(buffer, 0, read).TrimEnd('\r', '\n');
            return reply.StartsWith('+') ? reply[1..] : throw new IOException($"{Name} answered PING with '{reply}'.");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{Name} did not answer PING within {timeout.TotalMilliseconds:0} ms.");
        }
    }

    private protected override IReadOnlyList<string> ServerCommand() =>
    [
        _program,
        "--port", Port.ToString(CultureInfo.InvariantCulture),
        "--bind", Host,
        "--dir", Directory,
        "--save", string.Empty,
        "--appendonly", "no",
        "--protected-mode", "no",
        "--daemonize", "no",
        "--logfile", string.Empty,
        "--maxclients", "10000",
        .. _extraArguments,
    ];

    private protected override int GracefulStopSignal => Posix.SigTerm;

    private protected override async Task ProbeAsync(CancellationToken cancellationToken)
    {
        var reply = await PingAsync(TimeSpan.FromSeconds(1), cancellationToken);
        if (reply != "PONG")
        {
            throw new IOException($"{Name} is not ready: {reply}");
        }
    }
}
