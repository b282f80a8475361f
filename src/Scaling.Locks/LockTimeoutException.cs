using System.Globalization;

namespace Scaling.Locks;

/// <summary>Thrown by <see cref="IDistributedLockProvider.AcquireAsync"/> when the lock could not be acquired within the wait.</summary>
public sealed class LockTimeoutException : TimeoutException
{
    /// <summary>Creates the exception for a failed acquisition.</summary>
    /// <param name="resource">The resource.</param>
    /// <param name="wait">How long the acquisition tried.</param>
    /// <param name="lastAttempt">The last attempt's result.</param>
    public LockTimeoutException(string resource, TimeSpan wait, LockAcquisition lastAttempt)
        : base(Describe(resource, wait, lastAttempt))
    {
        Resource = resource;
        Wait = wait;
        LastAttempt = lastAttempt;
    }

    /// <summary>Creates the exception with a default message.</summary>
    public LockTimeoutException()
        : base("The lock could not be acquired in time.")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    /// <param name="message">The message.</param>
    public LockTimeoutException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/> and its cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public LockTimeoutException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The resource that could not be locked, when known.</summary>
    public string? Resource { get; }

    /// <summary>How long the acquisition tried.</summary>
    public TimeSpan Wait { get; }

    /// <summary>The last attempt's result (status and each master's answer), when known.</summary>
    public LockAcquisition? LastAttempt { get; }

    private static string Describe(string resource, TimeSpan wait, LockAcquisition lastAttempt)
    {
        ArgumentNullException.ThrowIfNull(resource);
        ArgumentNullException.ThrowIfNull(lastAttempt);
        return string.Create(
            CultureInfo.InvariantCulture,
            $"Could not acquire the lock on {DisplayText.Quote(resource)} within {wait.TotalMilliseconds:0} ms ({lastAttempt.Attempts} attempt(s)); last attempt: {lastAttempt.Status} ({string.Join(", ", lastAttempt.Nodes)}).");
    }
}
