namespace Scaling.RateLimit;

/// <summary>
/// The Redis Cluster hash slot of a partition: CRC16 (XMODEM) of the hash tag, modulo 16,384, as Redis computes it. Every
/// key of a check carries its partition as the hash tag (<c>prefix{partition}:…</c>; the prefix may not hold braces and a
/// partition is key-safe ASCII), so the partition alone decides the slot.
/// </summary>
internal static class ClusterSlot
{
    /// <summary>The number of hash slots.</summary>
    internal const int Count = 16384;

    /// <summary>The slot of <paramref name="partition"/> (a key-safe ASCII string).</summary>
    internal static int Of(string partition)
    {
        var crc = 0;
        foreach (var c in partition)
        {
            crc ^= (byte)c << 8;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1;
            }
        }

        return (crc & 0xFFFF) % Count;
    }
}
