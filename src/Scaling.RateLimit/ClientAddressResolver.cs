using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Scaling.RateLimit;

/// <summary>
/// Finds the client address of a request: the connection's remote address, unless that is a trusted proxy, in
/// which case the forwarded-for header is walked from the right (the entry the nearest proxy appended) past
/// further trusted proxies to the first untrusted address. An entry that is not an address ends the walk at the
/// last trusted hop, so garbage can never widen a client's allowance. IPv6 clients are counted by prefix.
/// </summary>
internal sealed class ClientAddressResolver
{
    /// <summary>The most forwarded-for entries looked at (from the right).</summary>
    internal const int MaxHops = 16;

    private readonly IPNetwork[] _trusted;
    private readonly string _header;
    private readonly int _ipv6Prefix;

    internal ClientAddressResolver(ScalingRateLimitOptions options)
    {
        _trusted = [.. options.TrustedProxies.Select(p => TryParseNetwork(p, out var network) ? network : throw new ArgumentException("Invalid proxy.", nameof(options)))];
        _header = options.ForwardedForHeaderName;
        _ipv6Prefix = options.IPv6PrefixLength;
    }

    /// <summary>Parses an IP address (a single-address network) or a CIDR range.</summary>
    internal static bool TryParseNetwork(string? value, out IPNetwork network)
    {
        network = default;
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        var text = value.Trim();
        if (text.Contains('/', StringComparison.Ordinal))
        {
            return IPNetwork.TryParse(text, out network);
        }

        if (!IPAddress.TryParse(text, out var address))
        {
            return false;
        }

        address = Normalize(address);
        network = new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
        return true;
    }

    /// <summary>Returns the key of the client, e.g. <c>ip:203.0.113.7</c> or <c>ip:2001:db8:1:2::/64</c>; <c>ip:unknown</c> when there is no address.</summary>
    internal string Resolve(HttpContext context, ILogger logger)
    {
        var remote = context.Connection.RemoteIpAddress;
        if (remote is null)
        {
            return "ip:unknown";
        }

        var client = Normalize(remote);
        if (IsTrusted(client))
        {
            client = Forwarded(context.Request.Headers[_header], client, logger);
        }

        return "ip:" + Key(client);
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private IPAddress Forwarded(Microsoft.Extensions.Primitives.StringValues values, IPAddress proxy, ILogger logger)
    {
        var hop = proxy;
        var seen = 0;
        // Header values in order; within each, entries left to right: walk all of them from the right.
        for (var v = values.Count - 1; v >= 0; v--)
        {
            var entries = (values[v] ?? string.Empty).Split(',');
            for (var e = entries.Length - 1; e >= 0; e--)
            {
                if (++seen > MaxHops)
                {
                    return hop;
                }

                var entry = entries[e].Trim();
                if (!TryParseEntry(entry, out var address))
                {
                    RateLimitLog.BadForwardedEntry(logger, hop.ToString(), DisplayText.Quote(entry));
                    return hop;
                }

                if (!IsTrusted(address))
                {
                    return address;
                }

                hop = address;
            }
        }

        return hop;
    }

    private static bool TryParseEntry(string entry, out IPAddress address)
    {
        // "203.0.113.7", "203.0.113.7:4711", "2001:db8::1" or "[2001:db8::1]:4711".
        if (entry.Length is > 0 and <= 64 && (IPAddress.TryParse(entry, out var parsed) || IPEndPoint.TryParse(entry, out var endPoint) && (parsed = endPoint.Address) is not null))
        {
            address = Normalize(parsed);
            return true;
        }

        address = IPAddress.None;
        return false;
    }

    private bool IsTrusted(IPAddress address)
    {
        foreach (var network in _trusted)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    private string Key(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6 || _ipv6Prefix >= 128)
        {
            return address.ToString();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        for (var bit = _ipv6Prefix; bit < 128; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }

        return new IPAddress(bytes).ToString() + "/" + _ipv6Prefix.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}
