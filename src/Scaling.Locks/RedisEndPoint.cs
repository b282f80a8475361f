using System.Globalization;

namespace Scaling.Locks;

/// <summary>Parses the <c>host:port</c> form of a Redis master's endpoint.</summary>
internal static class RedisEndPoint
{
    internal static bool TryParse(string? endpoint, out string host, out int port)
    {
        host = string.Empty;
        port = 0;
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            return false;
        }

        var text = endpoint.Trim();
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            return false;
        }

        host = text[..colon].Trim('[', ']');
        if (host.Length == 0 || host.Any(c => char.IsWhiteSpace(c) || c == ','))
        {
            return false;
        }

        return int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= 65535;
    }
}
