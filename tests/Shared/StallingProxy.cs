using System.Net;
using System.Net.Sockets;

namespace Scaling.Testing;

/// <summary>
/// A TCP forwarder on a loopback port in front of a real server, whose server-to-client direction can be stalled: the
/// client then reads nothing, exactly as when the client's process is paused (SIGSTOP), while the test process itself
/// runs on. The server sees its writes pile up in its output buffer. Used for clients that live in the test process.
/// </summary>
public sealed class StallingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _clients = [];
    private readonly Lock _gate = new();
    private readonly Task _accepting;
    private volatile TaskCompletionSource _flowing = CompletedSource();

    private StallingProxy(int target)
    {
        _target = target;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = Task.Run(AcceptAsync);
    }

    /// <summary>The port clients connect to.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>The proxy's endpoint as <c>127.0.0.1:port</c>.</summary>
    public string EndPoint => "127.0.0.1:" + Port;

    /// <summary>Starts a proxy in front of the server listening on <paramref name="targetPort"/> on loopback.</summary>
    public static StallingProxy Start(int targetPort) => new(targetPort);

    /// <summary>Stops forwarding the server's bytes to the clients (they are left in the server's buffers).</summary>
    public void Stall() => _flowing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Forwards the server's bytes again.</summary>
    public void Resume() => _flowing.TrySetResult();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        Resume();
        _listener.Stop();
        lock (_gate)
        {
            foreach (var client in _clients)
            {
                client.Dispose();
            }
        }

        await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private static TaskCompletionSource CompletedSource()
    {
        var source = new TaskCompletionSource();
        source.SetResult();
        return source;
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var server = new TcpClient();
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                client.Dispose();
                server.Dispose();
                continue;
            }

            lock (_gate)
            {
                _clients.Add(client);
                _clients.Add(server);
            }

            _ = PumpAsync(client, server, stallable: false);
            _ = PumpAsync(server, client, stallable: true);
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, bool stallable)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            var source = from.GetStream();
            var target = to.GetStream();
            while (!_stop.IsCancellationRequested)
            {
                var read = await source.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    break;
                }

                if (stallable)
                {
                    // Stalled: hold what was read and read nothing more, so the server's buffers fill.
                    await _flowing.Task.WaitAsync(_stop.Token);
                }

                await target.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }
}
