namespace Scaling.Tenancy;

/// <summary>
/// Gives access to the ambient tenant: the tenant the current logical flow of execution (a request,
/// a message, a background job) runs for.
/// </summary>
/// <remarks>
/// The ambient tenant flows with the <see cref="ExecutionContext"/>: across <see langword="await"/>s and
/// into work started from the flow (<see cref="Task.Run(Action)"/>, timers, thread-pool items), but
/// never into sibling flows and never back out of an <see langword="async"/> method into its caller.
/// </remarks>
public interface ITenantContextAccessor
{
    /// <summary>Gets the tenant of the current flow, or <see langword="null"/> when no tenant scope is active.</summary>
    TenantInfo? Current { get; }

    /// <summary>
    /// Makes <paramref name="tenant"/> the ambient tenant of the current flow until the returned scope is
    /// disposed; disposing it restores the tenant that was current before (scopes nest).
    /// </summary>
    /// <param name="tenant">The tenant to make current.</param>
    /// <returns>The scope; dispose it (with <see langword="using"/>) on the same flow to end it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="tenant"/> is <see langword="null"/>.</exception>
    IDisposable BeginScope(TenantInfo tenant);
}
