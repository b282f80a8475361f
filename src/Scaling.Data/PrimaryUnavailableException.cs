namespace Scaling.Data;

/// <summary>
/// The primary could not be reached (connection refused, timed out, or its circuit breaker is open). Thrown
/// before any work was sent, so nothing was written: the caller may safely try again later.
/// </summary>
public sealed class PrimaryUnavailableException : ScalingDataException
{
    /// <summary>Creates the exception.</summary>
    public PrimaryUnavailableException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public PrimaryUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public PrimaryUnavailableException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
