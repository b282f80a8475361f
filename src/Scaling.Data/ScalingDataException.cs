namespace Scaling.Data;

/// <summary>The base of the exceptions Scaling.Data throws itself (server errors stay <see cref="Npgsql.NpgsqlException"/>).</summary>
public class ScalingDataException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ScalingDataException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public ScalingDataException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public ScalingDataException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
