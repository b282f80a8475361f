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
    public static string Create(string directory, IPAddress address, int port, IReadOnlyList<Uri> upstreams, int expectedConnections)
    {
        var listen = address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]:{port}" : $"{address}:{port}";
        // Every proxied connection takes two descriptors (client side and upstream side), plus spare.
        var connections = Math.Max(4096, (expectedConnections * 2) + 1024);
        var servers = new StringBuilder();
        foreach (var upstream in upstreams)
        {
            servers.Append(CultureInfo.InvariantCulture, $"    server {upstream.Authority} max_fails=0;\n");
        }

        var user = Environment.UserName == "root" ? "user root;\n" : string.Empty;
        return $$"""
            # Written by the load test for one run.
            {{user}}daemon off;
            worker_processes 1;
            worker_rlimit_nofile {{connections + 1024}};
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
