using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace Scaling.RateLimit;

/// <summary>
/// Makes untrusted values (user ids, tenant ids, API keys) safe to put in a Redis key: short values of
/// <c>[A-Za-z0-9._:/-]</c> are kept as they are (readable keys); anything longer or with other characters is
/// replaced by a SHA-256 digest (96 bits, hex), so no input can make a key long or inject a hash tag.
/// </summary>
internal static class KeyPart
{
    /// <summary>The longest value kept as it is.</summary>
    internal const int MaxPlainLength = 64;

    private static readonly SearchValues<char> Plain =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/-");

    /// <summary>Returns <paramref name="value"/> when it is short and plain, otherwise <c>#</c> and its digest.</summary>
    internal static string Safe(string value) =>
        value.Length is > 0 and <= MaxPlainLength && !value.AsSpan().ContainsAnyExcept(Plain) ? value : Hash(value);

    /// <summary>Returns <c>#</c> and 24 hex digits of the SHA-256 of <paramref name="value"/> (for secrets such as API keys, always).</summary>
    internal static string Hash(string value)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(value), digest);
        return "#" + Convert.ToHexStringLower(digest[..12]);
    }
}
