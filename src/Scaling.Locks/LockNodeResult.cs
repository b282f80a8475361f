namespace Scaling.Locks;

/// <summary>One Redis master's answer to one attempt.</summary>
/// <param name="EndPoint">The master, as configured (<c>host:port</c>).</param>
/// <param name="Outcome">What the master answered.</param>
/// <param name="Elapsed">How long the master took to answer (or until the attempt stopped waiting for it).</param>
public sealed record LockNodeResult(string EndPoint, LockNodeOutcome Outcome, TimeSpan Elapsed)
{
    /// <summary>Returns e.g. <c>127.0.0.1:6379 Granted (0.4 ms)</c>.</summary>
    /// <returns>The master, its outcome and its latency.</returns>
    public override string ToString() =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{EndPoint} {Outcome} ({Elapsed.TotalMilliseconds:0.0} ms)");
}
