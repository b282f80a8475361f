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
}
