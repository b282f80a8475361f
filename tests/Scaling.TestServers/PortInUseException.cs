namespace Scaling.Testing;

/// <summary>A server could not listen because its port was taken by another process.</summary>
internal sealed class PortInUseException(string server, int port)
    : TestServerException($"{server} could not listen on 127.0.0.1:{port}: the port is already in use by another process.")
{
    public int Port { get; } = port;
}
