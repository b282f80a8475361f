namespace Scaling.Testing;

/// <summary>
/// Thrown when the test servers cannot be started or controlled. The message is one sentence that
/// says what went wrong and, for a missing program, how to install it.
/// </summary>
public class TestServerException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public TestServerException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public TestServerException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
