namespace Scaling.Locks;

/// <summary>
/// Issues fencing tokens: numbers that are strictly increasing per resource, so the store that holds the
/// protected data can reject a write from a holder whose lock has since passed to someone else.
/// </summary>
/// <remarks>
/// The tokens must come from the store that holds the protected data (or one as strongly consistent):
/// counters on independent Redis masters cannot be monotonic across failovers and restarts. See
/// <see cref="PostgresFencingTokenSource"/>.
/// </remarks>
public interface IFencingTokenSource
{
    /// <summary>Issues the next token for <paramref name="resource"/>: greater than every token issued before for it.</summary>
    /// <param name="resource">The resource's name.</param>
    /// <param name="cancellationToken">Stops waiting for the store.</param>
    /// <returns>The token.</returns>
    Task<long> NextAsync(string resource, CancellationToken cancellationToken = default);
}
