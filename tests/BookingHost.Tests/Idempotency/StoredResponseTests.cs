using System.Text;
using System.Text.Json;
using BookingHost.Idempotency;

namespace BookingHost.Tests.Idempotency;

/// <summary>
/// The stored answer's record is written once, from the body where it lies, and stays the record every instance reads:
/// byte for byte what an instance that serialized the record with its body as an array wrote (as before), so instances
/// of either kind replay each other's answers during a rolling upgrade.
/// </summary>
public sealed class StoredResponseTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(700)]
    [InlineData(70_000)]
    public void The_record_is_the_one_written_before_and_reads_back_byte_for_byte(int bodyLength)
    {
        var body = new byte[bodyLength + 5];
        Random.Shared.NextBytes(body);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["Content-Type"] = "application/json; charset=utf-8",
            ["Location"] = "/api/v1/bookings/" + Guid.NewGuid() + "?a=<b>&c=\"d\"+é",
        };
        var fingerprint = Convert.ToHexString(Guid.NewGuid().ToByteArray()) + Convert.ToHexString(Guid.NewGuid().ToByteArray());

        // The body is a slice of a larger buffer, as the handler passes it (the response's MemoryStream).
        var record = new StoredResponse(fingerprint, 201, headers, body.AsMemory(2, bodyLength)).Serialize();

        var before = "done:"u8.ToArray().Concat(JsonSerializer.SerializeToUtf8Bytes(new ArrayBodyRecord(fingerprint, 201, headers, body[2..(2 + bodyLength)]))).ToArray();
        Assert.Equal(before, record.ToArray());

        var read = StoredResponse.Deserialize(Encoding.UTF8.GetString(record.Span));
        Assert.Equal(fingerprint, read.Fingerprint);
        Assert.Equal(201, read.Status);
        Assert.Equal(headers, read.Headers);
        Assert.Equal(body[2..(2 + bodyLength)], read.Body.ToArray());
    }

    /// <summary>The record as it was declared before (the body an array).</summary>
    private sealed record ArrayBodyRecord(string Fingerprint, int Status, Dictionary<string, string> Headers, byte[] Body);
}
