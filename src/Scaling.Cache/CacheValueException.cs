namespace Scaling.Cache;

/// <summary>
/// A value could not be stored in the distributed tier: it cannot be serialized, or its serialized form is
/// larger than <see cref="ScalingCacheOptions.MaxPayloadBytes"/>. Nothing was changed in either tier.
/// </summary>
public sealed class CacheValueException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public CacheValueException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public CacheValueException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The serializer's exception.</param>
    public CacheValueException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for the value of one cache key.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="key">The cache key whose value could not be stored.</param>
    /// <param name="innerException">The serializer's exception, if any.</param>
    public CacheValueException(string message, string key, Exception? innerException)
        : base(message, innerException) => Key = key;

    /// <summary>The cache key whose value could not be stored, when known.</summary>
    public string? Key { get; }
}
