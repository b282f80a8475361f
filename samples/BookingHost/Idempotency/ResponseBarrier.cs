namespace BookingHost.Idempotency;

/// <summary>
/// Work an endpoint must see done before its response leaves (a cache invalidation a client's next read depends on),
/// which <see cref="IdempotencyHandler"/> waits for together with storing the response: the two Redis round trips
/// overlap instead of running in turn. Without the handler (a request without <c>Idempotency-Key</c>) the endpoint
/// waits for the work where it defers it, as before.
/// </summary>
public sealed class ResponseBarrier
{
    private Task? _work;

    /// <summary>
    /// Leaves <paramref name="work"/> to the request's barrier when the idempotency handler set one, or returns it
    /// to be awaited here.
    /// </summary>
    /// <param name="http">The request.</param>
    /// <param name="work">Work started by the endpoint that must finish before the response is sent.</param>
    /// <returns><paramref name="work"/> itself, or a completed task once the barrier holds it.</returns>
    public static ValueTask DeferAsync(HttpContext http, ValueTask work)
    {
        ArgumentNullException.ThrowIfNull(http);
        if (work.IsCompleted || http.Features.Get<ResponseBarrier>() is not { } barrier)
        {
            return work;
        }

        var task = work.AsTask();
        barrier._work = barrier._work is null ? task : Task.WhenAll(barrier._work, task);
        return ValueTask.CompletedTask;
    }

    /// <summary>Completes when all the deferred work has (faults and cancellations surface here).</summary>
    internal Task WhenDone => _work ?? Task.CompletedTask;

    /// <summary>Waits for the deferred work and drops its fault: for the paths where the request failed already.</summary>
    internal async Task SettleAsync()
    {
        try
        {
            await WhenDone;
        }
        catch
        {
            // The request's own failure is the one reported.
        }
    }
}
