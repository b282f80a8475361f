using Microsoft.IdentityModel.Tokens;

namespace BookingHost.Auth;

/// <summary>The authentication failure of an access token that is on the revocation list.</summary>
public sealed class AccessTokenRevokedException : SecurityTokenException
{
    /// <summary>Creates the exception.</summary>
    public AccessTokenRevokedException()
        : base("The access token has been revoked (signed out).")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public AccessTokenRevokedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public AccessTokenRevokedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
