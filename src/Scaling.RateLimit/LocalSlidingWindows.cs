using System.Diagnostics;

namespace Scaling.RateLimit;

/// <summary>
/// The in-process fallback while Redis is down: a sliding-window counter per key (the same algorithm as in
/// Redis, on this process's monotonic clock), at the policy's limit divided by the expected instance count.
/// All policies of one check are checked and consumed under one lock, as in the script. Bounded: idle keys are
/// dropped when the key count reaches its cap, and a new key beyond the cap is refused.
/// </summary>
internal sealed class LocalSlidingWindows
{
    private readonly Dictionary<string, Window> _windows = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly long _origin = Stopwatch.GetTimestamp();

    internal int Count
    {
        get
        {
            lock (_gate)
            {
                return _windows.Count;
            }
        }
    }

    /// <summary>
    /// Checks the given policies (each with its key and local limit) and counts <paramref name="permits"/> in
    /// all of them only if all allow. Fills <paramref name="states"/> (remaining, reset) per policy.
    /// </summary>
    internal bool TryAcquire(ReadOnlySpan<(string Key, long Limit, TimeSpan Window)> policies, int permits, int maxKeys, Span<(long Remaining, TimeSpan Reset)> states, out TimeSpan retryAfter)
    {
        var now = Stopwatch.GetElapsedTime(_origin);
        retryAfter = TimeSpan.Zero;
        lock (_gate)
        {
            var windows = new Window?[policies.Length];
            var allowed = true;
            for (var i = 0; i < policies.Length; i++)
            {
                var (key, limit, length) = policies[i];
                if (!_windows.TryGetValue(key, out var window))
                {
                    if (_windows.Count >= maxKeys)
                    {
                        DropIdle(now);
                    }

                    if (_windows.Count >= maxKeys)
                    {
                        states[i] = (0, length);
                        retryAfter = retryAfter > length ? retryAfter : length;
                        allowed = false;
                        continue;
                    }

                    window = new Window(length);
                    _windows.Add(key, window);
                }

                window.Advance(now);
                windows[i] = window;
                var elapsed = now - (window.Index * length);
                var weight = 1 - (elapsed / length);
                var estimate = (window.Previous * weight) + window.Current;
                if (estimate + permits <= limit)
                {
                    states[i] = ((long)Math.Floor(limit - estimate - permits), length - elapsed);
                }
                else
                {
                    var wait = length - elapsed;
                    states[i] = (Math.Max(0, (long)Math.Floor(limit - estimate)), wait);
                    retryAfter = retryAfter > wait ? retryAfter : wait;
                    allowed = false;
                }
            }

            if (allowed)
            {
                foreach (var window in windows)
                {
                    window!.Current += permits;
                }
            }

            return allowed;
        }
    }

    private void DropIdle(TimeSpan now)
    {
        foreach (var (key, window) in _windows)
        {
            if (now - (window.Index * window.Length) >= 2 * window.Length)
            {
                _windows.Remove(key);
            }
        }
    }

    private sealed class Window(TimeSpan length)
    {
        internal TimeSpan Length { get; } = length;

        internal long Index { get; private set; } = -2;

        internal long Current { get; set; }

        internal long Previous { get; private set; }

        internal void Advance(TimeSpan now)
        {
            var index = now.Ticks / Length.Ticks;
            if (index == Index)
            {
                return;
            }

            Previous = index == Index + 1 ? Current : 0;
            Current = 0;
            Index = index;
        }
    }
}
