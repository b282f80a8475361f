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

    internal string Serialize() => Prefix + JsonSerializer.Serialize(this);

    internal static StoredResponse Deserialize(string value)
        => JsonSerializer.Deserialize<StoredResponse>(value.AsSpan(Prefix.Length)) ?? throw new JsonException("An empty idempotency record.");
}
