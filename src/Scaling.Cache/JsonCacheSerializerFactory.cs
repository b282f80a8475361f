using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Microsoft.Extensions.Caching.Hybrid;

namespace Scaling.Cache;

/// <summary>
/// The default serializer of <see cref="TwoTierCache"/>: System.Text.Json for every type. Register another
/// <see cref="IHybridCacheSerializerFactory"/> (or an <see cref="IHybridCacheSerializer{T}"/>) to override it.
/// </summary>
/// <param name="options">The JSON options; <see cref="JsonSerializerOptions.Web"/> when <see langword="null"/>.</param>
public sealed class JsonCacheSerializerFactory(JsonSerializerOptions? options = null) : IHybridCacheSerializerFactory
{
    private readonly JsonSerializerOptions _options = options ?? JsonSerializerOptions.Web;

    /// <inheritdoc />
    public bool TryCreateSerializer<T>([NotNullWhen(true)] out IHybridCacheSerializer<T>? serializer)
    {
        serializer = new JsonCacheSerializer<T>(_options);
        return true;
    }

    private sealed class JsonCacheSerializer<T>(JsonSerializerOptions options) : IHybridCacheSerializer<T>
    {
        public T Deserialize(ReadOnlySequence<byte> source)
        {
            var reader = new Utf8JsonReader(source);
            return JsonSerializer.Deserialize<T>(ref reader, options)!;
        }

        public void Serialize(T value, IBufferWriter<byte> target)
        {
            using var writer = new Utf8JsonWriter(target);
            JsonSerializer.Serialize(writer, value, options);
        }
    }
}
