using System.Globalization;

namespace Scaling.Locks;

/// <summary>
/// Thrown by <see cref="FencingGuard.CheckAsync"/> when a write carries a fencing token that is no longer
/// the latest issued for its resource: its lock has passed to another holder, so the write must not happen.
/// </summary>
public sealed class StaleFencingTokenException : InvalidOperationException
{
    /// <summary>Creates the exception for a rejected token.</summary>
    /// <param name="resource">The resource.</param>
    /// <param name="token">The token the write carried.</param>
    /// <param name="latestToken">The latest token issued for the resource, or <see langword="null"/> when none was ever issued.</param>
    public StaleFencingTokenException(string resource, long token, long? latestToken)
        : base(Describe(resource, token, latestToken))
    {
        Resource = resource;
        Token = token;
        LatestToken = latestToken;
    }

    /// <summary>Creates the exception for a token the database rejected (<see cref="FencingGuard.TryGetStaleToken"/>).</summary>
    internal StaleFencingTokenException(string resource, long token, long? latestToken, Exception innerException)
        : base(Describe(resource, token, latestToken), innerException)
    {
        Resource = resource;
        Token = token;
        LatestToken = latestToken;
    }

    /// <summary>Creates the exception with a default message.</summary>
    public StaleFencingTokenException()
        : base("The fencing token is stale.")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    /// <param name="message">The message.</param>
    public StaleFencingTokenException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/> and its cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public StaleFencingTokenException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The resource, when known.</summary>
    public string? Resource { get; }

    /// <summary>The token the rejected write carried.</summary>
    public long Token { get; }

    /// <summary>The latest token issued for the resource, or <see langword="null"/> when none was ever issued (or it is unknown).</summary>
    public long? LatestToken { get; }

    private static string Describe(string resource, long token, long? latestToken)
    {
        ArgumentNullException.ThrowIfNull(resource);
        return latestToken is { } latest && token < latest
            ? string.Create(CultureInfo.InvariantCulture, $"Fencing token {token} for {DisplayText.Quote(resource)} is stale: token {latest} has been issued since, so the lock belongs to a newer holder and this write is rejected.")
            : string.Create(CultureInfo.InvariantCulture, $"Fencing token {token} for {DisplayText.Quote(resource)} was never issued (the latest issued is {(latestToken is { } l ? l.ToString(CultureInfo.InvariantCulture) : "none")}), so the write is rejected.");
    }
}
