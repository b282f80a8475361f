namespace BookingHost.Auth;

/// <summary>Thrown by <see cref="UserDirectory.CreateUserAsync"/> when an account with the e-mail address exists already.</summary>
public sealed class DuplicateEmailException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DuplicateEmailException()
        : base("An account with this e-mail address exists already.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public DuplicateEmailException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the database error.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The database error.</param>
    public DuplicateEmailException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
