using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Scaling.Cache;

/// <summary>
/// The binary layout of an L2 value: a format byte, the logical expiry and the creation time (Unix
/// milliseconds), the entry's tag stamps, then the serialized value. Redis keeps the key until the fail-safe
/// window ends; the logical expiry says when it stopped being fresh. A removal writes a short-lived tombstone
/// (format <see cref="TombstoneFormat"/>, no tags, no payload) so that a factory result computed before the
/// removal cannot be written over it.
/// </summary>
/// <remarks>
/// <c>[1][expires: int64 LE][created: int64 LE][tag count: uint8]([tag length: uint16 LE][tag: ASCII][version: int64 LE])*[payload]</c>
/// </remarks>
internal static class L2Envelope
{
    internal const byte FormatVersion = 1;

    internal const byte TombstoneFormat = 2;

    internal const int MaxTags = 64;

    internal const int HeaderSize = 18;

    internal static void WriteHeader(IBufferWriter<byte> writer, byte format, long expiresUnixMilliseconds, long createdUnixMilliseconds, TagStamp[]? tags)
    {
        var count = tags?.Length ?? 0;
        var size = HeaderSize;
        for (var i = 0; i < count; i++)
        {
            size += 2 + tags![i].Tag.Length + 8;
        }

        var span = writer.GetSpan(size);
        span[0] = format;
        BinaryPrimitives.WriteInt64LittleEndian(span[1..], expiresUnixMilliseconds);
        BinaryPrimitives.WriteInt64LittleEndian(span[9..], createdUnixMilliseconds);
        span[17] = (byte)count;
        var offset = HeaderSize;
        for (var i = 0; i < count; i++)
        {
            var tag = tags![i];
            BinaryPrimitives.WriteUInt16LittleEndian(span[offset..], (ushort)tag.Tag.Length);
            offset += 2;
            offset += Encoding.ASCII.GetBytes(tag.Tag, span[offset..]);
            BinaryPrimitives.WriteInt64LittleEndian(span[offset..], tag.Version);
            offset += 8;
        }

        writer.Advance(size);
    }

    /// <summary>
    /// Reads the header; false when the bytes are not a well-formed envelope. A tombstone reads as well-formed
    /// with <paramref name="format"/> = <see cref="TombstoneFormat"/>.
    /// </summary>
    internal static bool TryRead(ReadOnlyMemory<byte> data, out byte format, out long expiresUnixMilliseconds, out TagStamp[]? tags, out ReadOnlyMemory<byte> payload)
    {
        expiresUnixMilliseconds = 0;
        tags = null;
        payload = default;
        var span = data.Span;
        format = span.IsEmpty ? (byte)0 : span[0];
        if (span.Length < HeaderSize || (format != FormatVersion && format != TombstoneFormat))
        {
            return false;
        }

        expiresUnixMilliseconds = BinaryPrimitives.ReadInt64LittleEndian(span[1..]);
        int count = span[17];
        var offset = HeaderSize;
        if (count > 0)
        {
            if (count > MaxTags)
            {
                return false;
            }

            tags = new TagStamp[count];
            for (var i = 0; i < count; i++)
            {
                if (span.Length < offset + 2)
                {
                    return false;
                }

                int length = BinaryPrimitives.ReadUInt16LittleEndian(span[offset..]);
                offset += 2;
                if (length == 0 || span.Length < offset + length + 8)
                {
                    return false;
                }

                var tag = span.Slice(offset, length);
                if (tag.IndexOfAnyExceptInRange((byte)'!', (byte)'~') >= 0)
                {
                    return false;
                }

                offset += length;
                tags[i] = new TagStamp(Encoding.ASCII.GetString(tag), BinaryPrimitives.ReadInt64LittleEndian(span[offset..]));
                offset += 8;
            }
        }

        payload = data[offset..];
        return true;
    }
}
