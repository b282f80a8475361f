using System.Diagnostics;

namespace Scaling.Testing;

/// <summary>Polls a condition until it holds or a deadline passes (for asynchronous effects such as replication).</summary>
public static class Eventually
{
    /// <summary>Waits until <paramref name="condition"/> returns true; fails the test with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (stopwatch.Elapsed > timeout)
            {
                throw new Xunit.Sdk.XunitException($"Timed out after {timeout.TotalSeconds:0.#} s waiting for: {what}");
            }

            await Task.Delay(20);
        }
    }
}
