using System.Collections.Concurrent;
using System.Diagnostics;

namespace Scaling.Testing;

/// <summary>
/// Records the spans of one <see cref="ActivitySource"/> (all data, recorded) as a real OpenTelemetry listener would
/// sample them. Listeners are process-wide and test classes run in parallel: a test starts its own root span with
/// <see cref="StartTrace"/> and asserts only on the spans of that trace (<see cref="InTrace"/>).
/// </summary>
public sealed class ActivityRecorder : IDisposable
{
    private readonly ActivityListener _listener;
    private readonly ConcurrentQueue<Activity> _stopped = new();

    /// <summary>Starts listening to the source named <paramref name="sourceName"/> (e.g. <c>Scaling.Data</c>).</summary>
    public ActivityRecorder(string sourceName)
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == sourceName,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    /// <summary>
    /// Starts a root span of the test's own (not listened to by the packages' listeners), current until disposed: every span
    /// the test causes from here on, also in tasks it starts, is in its trace.
    /// </summary>
    public static Activity StartTrace(string name = "test") => new Activity(name).SetIdFormat(ActivityIdFormat.W3C).Start();

    /// <summary>The stopped spans of <paramref name="trace"/>'s trace, in the order they stopped.</summary>
    public IReadOnlyList<Activity> InTrace(Activity trace) => _stopped.Where(a => a.TraceId == trace.TraceId).ToList();

    /// <summary>The stopped spans named <paramref name="name"/> in <paramref name="trace"/>'s trace.</summary>
    public IReadOnlyList<Activity> InTrace(Activity trace, string name) => InTrace(trace).Where(a => a.OperationName == name).ToList();

    /// <summary>The stopped spans that carry tag <paramref name="key"/> with <paramref name="value"/> (a test's unique resource, key or tenant).</summary>
    public IReadOnlyList<Activity> WithTag(string key, object value) => _stopped.Where(a => Equals(a.GetTagItem(key), value)).ToList();

    /// <inheritdoc />
    public void Dispose() => _listener.Dispose();
}
