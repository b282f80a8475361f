using System.Text.Json;

namespace BookingHost.Idempotency;

/// <summary>A completed response as stored for replay.</summary>
/// <param name="Fingerprint">The SHA-256 (hex) of the request's method, path, query and body.</param>
/// <param name="Status">The status code.</param>
/// <param name="Headers">Content-Type and the headers of <see cref="IdempotencyOptions.ReplayedHeaders"/> the response had.</param>
/// <param name="Body">The body, byte for byte.</param>
public sealed record StoredResponse(string Fingerprint, int Status, Dictionary<string, string> Headers, byte[] Body)
{
    internal const string Prefix = "done:";

    private static ReadOnlySpan<byte> PrefixBytes => "done:"u8;

    /// <summary>
    /// The record as stored: <see cref="Prefix"/> and the JSON, in UTF-8 (what Redis keeps of a string), written once;
    /// a string would be made twice (the JSON, then with its prefix) at two bytes a character.
    /// </summary>
    internal byte[] Serialize()
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(this);
        var record = new byte[PrefixBytes.Length + json.Length];
        PrefixBytes.CopyTo(record);
        json.CopyTo(record.AsSpan(PrefixBytes.Length));
        return record;
    }

    internal static StoredResponse Deserialize(string value)
        => JsonSerializer.Deserialize<StoredResponse>(value.AsSpan(Prefix.Length)) ?? throw new JsonException("An empty idempotency record.");
}
