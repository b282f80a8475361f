using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Scaling.LoadTest;

/// <summary>
/// The nginx configuration of a run: one server on the loopback address, <c>least_conn</c> over the instances with
/// keep-alive upstream connections, and event streams passed through unbuffered, as in the product documents.
/// </summary>
internal static class NginxConfig
{
    /// <summary>The most nginx worker processes a run starts.</summary>
    public const int MaxWorkers = 8;

    /// <summary>How many client connections nginx can carry under <paramref name="fileLimit"/> open files per process.</summary>
    public static long Capacity(long fileLimit) => ((Math.Max(1024, fileLimit - 512) * MaxWorkers / 13 * 10) - 1024) / 2;

    /// <summary>
    /// The configuration for <paramref name="expectedConnections"/> client connections, with as many worker processes as
    /// the open-file limit (<paramref name="fileLimit"/>, inherited by nginx) needs: every proxied connection takes two
    /// descriptors (the client's and the upstream one), and one process cannot have more than the limit. With several
    /// workers, <c>reuseport</c> spreads the connections over them.
    /// </summary>
    public static string Create(string directory, IPAddress address, int port, IReadOnlyList<Uri> upstreams, int expectedConnections, long fileLimit)
    {
        var needed = (expectedConnections * 2L) + 1024;
        var usable = Math.Max(1024, fileLimit - 512);
        var workers = (int)Math.Clamp((long)Math.Ceiling(needed * 1.3 / usable), 1, MaxWorkers);
        var connections = (int)Math.Min(usable, Math.Max(4096, (long)Math.Ceiling(needed * 1.3 / workers)));
        var listen = (address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]:{port}" : $"{address}:{port}") + (workers > 1 ? " reuseport" : string.Empty);
        var servers = new StringBuilder();
        foreach (var upstream in upstreams)
        {
            servers.Append(CultureInfo.InvariantCulture, $"    server {upstream.Authority} max_fails=0;\n");
        }

        var user = Environment.UserName == "root" ? "user root;\n" : string.Empty;
        return $$"""
            # Written by the load test for one run.
            {{user}}daemon off;
            worker_processes {{workers}};
            worker_rlimit_nofile {{fileLimit}};
            pid {{directory}}/nginx.pid;
            error_log {{directory}}/error.log warn;
            events {
              worker_connections {{connections}};
              multi_accept on;
            }
            http {
              access_log off;
              client_body_temp_path {{directory}}/client_body;
              proxy_temp_path {{directory}}/proxy;
              fastcgi_temp_path {{directory}}/fastcgi;
              uwsgi_temp_path {{directory}}/uwsgi;
              scgi_temp_path {{directory}}/scgi;
              keepalive_requests 1000000;
              upstream bookinghost {
                least_conn;
            {{servers}}    keepalive 512;
                keepalive_requests 1000000;
              }
              server {
                listen {{listen}} backlog=4096;
                location / {
                  proxy_pass http://bookinghost;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  proxy_set_header Host $host;
                  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                  proxy_set_header X-Forwarded-Proto $scheme;
                  proxy_next_upstream error timeout;
                }
                # Server-Sent Events: no buffering, long reads (the hosts send a heartbeat every 15 s).
                location /api/v1/events {
                  proxy_pass http://bookinghost;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  proxy_set_header Host $host;
                  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                  proxy_buffering off;
                  proxy_cache off;
                  proxy_read_timeout 1h;
                }
              }
            }

            """;
    }
}
