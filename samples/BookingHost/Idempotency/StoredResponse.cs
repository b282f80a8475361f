using System.Buffers;
using System.Text.Json;

namespace BookingHost.Idempotency;

/// <summary>A completed response as stored for replay.</summary>
/// <param name="Fingerprint">The SHA-256 (hex) of the request's method, path, query and body.</param>
/// <param name="Status">The status code.</param>
/// <param name="Headers">Content-Type and the headers of <see cref="IdempotencyOptions.ReplayedHeaders"/> the response had.</param>
/// <param name="Body">The body, byte for byte (Base64 in the stored JSON).</param>
public sealed record StoredResponse(string Fingerprint, int Status, Dictionary<string, string> Headers, ReadOnlyMemory<byte> Body)
{
    internal const string Prefix = "done:";

    private static ReadOnlySpan<byte> PrefixBytes => "done:"u8;

    /// <summary>
    /// The record as stored: <see cref="Prefix"/> and the JSON, in UTF-8 (what Redis keeps of a string), written once
    /// into one buffer sized for it, from the body where it lies (no copy of it, of the JSON, or of the two joined).
    /// The JSON is the one <see cref="JsonSerializer"/> writes for this record, so every instance reads it.
    /// </summary>
    internal ReadOnlyMemory<byte> Serialize()
    {
        var size = PrefixBytes.Length + 64 + (Fingerprint.Length * 2) + ((Body.Length + 2) / 3 * 4);
        foreach (var (name, value) in Headers)
        {
            size += ((name.Length + value.Length) * 2) + 6;
        }

        var output = new ArrayBufferWriter<byte>(size);
        output.Write(PrefixBytes);
        using (var writer = new Utf8JsonWriter(output))
        {
            JsonSerializer.Serialize(writer, this);
        }

        return output.WrittenMemory;
    }

    internal static StoredResponse Deserialize(string value)
        => JsonSerializer.Deserialize<StoredResponse>(value.AsSpan(Prefix.Length)) ?? throw new JsonException("An empty idempotency record.");
}
