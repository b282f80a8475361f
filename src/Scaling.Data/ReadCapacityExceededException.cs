namespace Scaling.Data;

/// <summary>
/// A read could be served by no replica and the primary already runs the maximum number of fallback reads
/// (<see cref="ScalingDataOptions.MaxPrimaryFallbackReads"/>): the read is shed to protect the primary. It is
/// not retried automatically; a web application normally answers 503 with <c>Retry-After</c>.
/// </summary>
public sealed class ReadCapacityExceededException : ScalingDataException
{
    /// <summary>Creates the exception.</summary>
    public ReadCapacityExceededException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public ReadCapacityExceededException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public ReadCapacityExceededException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
