using System.Net;
using System.Net.Sockets;

namespace Scaling.Testing;

/// <summary>Finds and checks loopback TCP ports.</summary>
internal static class FreePorts
{
    /// <summary>A port the kernel reports free on 127.0.0.1 right now (bind to port 0, read, release).</summary>
    public static int Next(ISet<int> exclude)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            if (exclude.Add(port))
            {
                return port;
            }
        }

        throw new TestServerException("No free TCP port could be found on 127.0.0.1 after 100 attempts.");
    }

    /// <summary>True when nothing listens on the port and it can be bound now.</summary>
    public static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
