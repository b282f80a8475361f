using System.Diagnostics;

namespace Scaling.LoadTest;

/// <summary>What a request did, as reported (one row per kind).</summary>
internal enum RequestKind
{
    Availability,
    Book,
    List,
    QueueIssue,
    QueueCallNext,
    QueueSnapshot,
    Login,
}

/// <summary>One request: kind, HTTP status (or a negative transport outcome), start and latency.</summary>
/// <param name="Shard">The shard of the request's business (1 or 2), 0 for a request without one (a login).</param>
internal readonly record struct Sample(RequestKind Kind, short Status, long StartTicks, int Micros, byte Shard = 0)
{
    public const short Timeout = -1;
    public const short ConnectionError = -2;
    public const short OtherError = -3;

    public static string StatusName(short status) => status switch
    {
        Timeout => "timeout",
        ConnectionError => "connection",
        OtherError => "exception",
        _ => status.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Whether the answer is one the scenario expects (e.g. 409 for a slot someone else just took).</summary>
    public bool IsExpected => (Kind, Status) switch
    {
        (RequestKind.Book, 201 or 409) => true,
        (RequestKind.QueueIssue, 201) => true,
        (RequestKind.QueueCallNext, 200 or 404) => true,
        (RequestKind.Book or RequestKind.QueueIssue, _) => false,
        (_, 200) => true,
        _ => false,
    };
}

/// <summary>One delivered event: when it arrived and how long after it happened.</summary>
internal readonly record struct Delivery(long ReceivedTicks, int Micros);

/// <summary>
/// Collects samples without contention (one buffer per thread) on one clock (<see cref="Stopwatch"/> ticks since the run
/// started).
/// </summary>
internal sealed class Recorder
{
    private readonly ThreadLocal<List<Sample>> _samples = new(() => new List<Sample>(4096), trackAllValues: true);
    private readonly ThreadLocal<List<Delivery>> _deliveries = new(() => new List<Delivery>(4096), trackAllValues: true);
    private readonly long _origin = Stopwatch.GetTimestamp();

    /// <summary>Stopwatch ticks since the run started.</summary>
    public long Now => Stopwatch.GetTimestamp() - _origin;

    public static long TicksOf(TimeSpan time) => (long)(time.TotalSeconds * Stopwatch.Frequency);

    public static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;

    /// <summary>Requests answered so far (any outcome), for progress lines.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Requests with an unexpected outcome so far.</summary>
    public long Errors => Interlocked.Read(ref _errors);

    private long _completed;
    private long _errors;

    public void Add(RequestKind kind, short status, long startTicks, byte shard = 0)
    {
        Interlocked.Increment(ref _completed);
        if (!new Sample(kind, status, 0, 0).IsExpected)
        {
            Interlocked.Increment(ref _errors);
        }

        var micros = (int)Math.Min(int.MaxValue, (Now - startTicks) * 1_000_000 / Stopwatch.Frequency);
        _samples.Value!.Add(new Sample(kind, status, startTicks, micros, shard));
    }

    public void AddDelivery(TimeSpan latency)
        => _deliveries.Value!.Add(new Delivery(Now, (int)Math.Clamp(latency.Ticks / 10, 0, int.MaxValue)));

    /// <summary>Every sample so far (call when the load has stopped).</summary>
    public Sample[] Samples() => [.. _samples.Values.SelectMany(s => s)];

    public Delivery[] Deliveries() => [.. _deliveries.Values.SelectMany(s => s)];
}
