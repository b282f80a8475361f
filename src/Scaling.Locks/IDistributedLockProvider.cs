namespace Scaling.Locks;

/// <summary>
/// Acquires distributed locks by resource name. The Redis implementation is <see cref="RedlockProvider"/>
/// (registered by <see cref="Microsoft.Extensions.DependencyInjection.ScalingLocksServiceCollectionExtensions.AddScalingLocks"/>).
/// </summary>
public interface IDistributedLockProvider
{
    /// <summary>
    /// Tries to acquire the lock on <paramref name="resource"/>, retrying with random delays until
    /// <paramref name="wait"/> has passed, and returns the outcome of the last attempt with each master's answer.
    /// </summary>
    /// <param name="resource">The resource's name: 1 to <see cref="ScalingLocksOptions.MaxResourceLength"/> characters.</param>
    /// <param name="ttl">The lock's time to live on each master: from 1 ms to 24 days.</param>
    /// <param name="wait">How long to keep trying: zero for a single attempt, or <see cref="Timeout.InfiniteTimeSpan"/>.</param>
    /// <param name="cancellationToken">Stops trying; the call then throws <see cref="OperationCanceledException"/> (after releasing any partial grant).</param>
    /// <returns>The result; its <see cref="LockAcquisition.Handle"/> is set only when the status is <see cref="LockAttemptStatus.Acquired"/>.</returns>
    /// <exception cref="ArgumentException">The resource name is empty or too long.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="ttl"/> or <paramref name="wait"/> is out of range.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    Task<LockAcquisition> TryAcquireDetailedAsync(string resource, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default);

    /// <summary>Tries to acquire the lock on <paramref name="resource"/> within <paramref name="wait"/>.</summary>
    /// <param name="resource">The resource's name: 1 to <see cref="ScalingLocksOptions.MaxResourceLength"/> characters.</param>
    /// <param name="ttl">The lock's time to live on each master: from 1 ms to 24 days.</param>
    /// <param name="wait">How long to keep trying: zero for a single attempt, or <see cref="Timeout.InfiniteTimeSpan"/>.</param>
    /// <param name="cancellationToken">Stops trying.</param>
    /// <returns>The handle of the held lock, or <see langword="null"/> when it could not be acquired in time.</returns>
    /// <exception cref="ArgumentException">The resource name is empty or too long.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="ttl"/> or <paramref name="wait"/> is out of range.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    Task<IDistributedLockHandle?> TryAcquireAsync(string resource, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default);

    /// <summary>Acquires the lock on <paramref name="resource"/>, or throws when that is not possible within <paramref name="wait"/>.</summary>
    /// <param name="resource">The resource's name: 1 to <see cref="ScalingLocksOptions.MaxResourceLength"/> characters.</param>
    /// <param name="ttl">The lock's time to live on each master: from 1 ms to 24 days.</param>
    /// <param name="wait">How long to keep trying: zero for a single attempt, or <see cref="Timeout.InfiniteTimeSpan"/>.</param>
    /// <param name="cancellationToken">Stops trying.</param>
    /// <returns>The handle of the held lock.</returns>
    /// <exception cref="LockTimeoutException">The lock could not be acquired within <paramref name="wait"/>.</exception>
    /// <exception cref="ArgumentException">The resource name is empty or too long.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="ttl"/> or <paramref name="wait"/> is out of range.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    Task<IDistributedLockHandle> AcquireAsync(string resource, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default);
}
