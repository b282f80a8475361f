using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Scaling.RateLimit.Tests;

/// <summary>Limiters over the test Redis, each test on its own key prefix, and a direct view of Redis.</summary>
internal static class RateLimitTestKit
{
    public static ScalingRateLimitOptions Options(Testing.TestServers servers, Action<ScalingRateLimitOptions>? configure = null)
    {
        var options = new ScalingRateLimitOptions
        {
            RedisConfiguration = servers.Redis[0].EndPoint,
            KeyPrefix = "t" + Guid.NewGuid().ToString("N")[..8] + ":",

            // A loaded CI machine can take longer than the 250 ms default, and a check that times out is decided without
            // Redis (degraded): tests of what Redis decides would then fail by chance. Tests of timeouts set their own.
            RedisTimeout = TimeSpan.FromSeconds(5),
        };
        configure?.Invoke(options);
        return options;
    }

    public static RedisRateLimiter Limiter(ScalingRateLimitOptions options, RecordingLogger? logger = null) => new(Microsoft.Extensions.Options.Options.Create(options), logger ?? new RecordingLogger());

    public static RateLimitTier Policy(string name, int limit, int windowSeconds, RateLimitAlgorithm algorithm = RateLimitAlgorithm.SlidingWindowCounter, RateLimitFailureMode mode = RateLimitFailureMode.LocalFallback) =>
        new(name, limit, TimeSpan.FromSeconds(windowSeconds)) { Algorithm = algorithm, WhenRedisUnavailable = mode };

    /// <summary>Waits until the limiter's connection is up (a check of a throw-away partition that is not degraded).</summary>
    public static async Task<RedisRateLimiter> WarmAsync(this RedisRateLimiter limiter)
    {
        var check = new RateLimitCheck("warm-up", "test").Add(Policy("warm", 1_000_000, 1));
        await Testing.Eventually.TrueAsync(async () => !(await limiter.CheckAsync(check)).IsDegraded, TimeSpan.FromSeconds(10), "the limiter's Redis connection");
        return limiter;
    }

    /// <summary>
    /// 32 concurrent clients on two limiter instances (separate connections) check one policy of one partition for
    /// <paramref name="duration"/>, in a tight loop or paced (a random pause between requests); the admissions are stamped
    /// with Redis's clock. Fails the test if a check was degraded (decided without Redis).
    /// </summary>
    public static async Task<HammerResult> HammerAsync(ScalingRateLimitOptions options, string partition, RateLimitAlgorithm algorithm, int limit, TimeSpan duration, (int Min, int Max)? pace = null)
    {
        const int clients = 32;
        var log = new RecordingLogger();
        await using var first = await Limiter(options, log).WarmAsync();
        await using var second = await Limiter(options, log).WarmAsync();
        var policy = Policy("global", limit, 1, algorithm);
        var admissions = new ConcurrentBag<long>();
        var rejected = 0;
        var degraded = 0;
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, clients).Select(i => Task.Run(async () =>
        {
            var limiter = i % 2 == 0 ? first : second;
            var check = new RateLimitCheck(partition, "test").Add(policy);
            while (stopwatch.Elapsed < duration)
            {
                var decision = await limiter.CheckAsync(check);
                if (decision.IsDegraded)
                {
                    Interlocked.Increment(ref degraded);
                }
                else if (decision.IsAllowed)
                {
                    admissions.Add(decision.ServerTimeMicroseconds);
                }
                else
                {
                    Interlocked.Increment(ref rejected);
                }

                if (pace is { } p)
                {
                    await Task.Delay(Random.Shared.Next(p.Min, p.Max));
                }
            }
        }));
        await Task.WhenAll(tasks);

        Xunit.Assert.True(degraded == 0, $"{degraded} checks were degraded: {string.Join(" | ", log.Entries.Select(e => e.Message).Distinct().Take(3))}");
        return new HammerResult(admissions.Count, rejected, MaxInAnyWindow(admissions, 1_000_000), OverAdmissions(admissions, 1_000_000, limit));
    }

    /// <summary>
    /// The admissions that were over the limit when they happened: sorted by time, admission i is one when, with it,
    /// more than <paramref name="limit"/> admissions lie in (t_i − window, t_i].
    /// </summary>
    public static int OverAdmissions(IEnumerable<long> timestampsMicros, long windowMicros, int limit)
    {
        var sorted = timestampsMicros.Order().ToArray();
        var over = 0;
        var start = 0;
        for (var end = 0; end < sorted.Length; end++)
        {
            while (sorted[start] <= sorted[end] - windowMicros)
            {
                start++;
            }

            if (end - start + 1 > limit)
            {
                over++;
            }
        }

        return over;
    }

    /// <summary>The largest number of timestamps in any half-open window (t − window, t].</summary>
    public static int MaxInAnyWindow(IEnumerable<long> timestampsMicros, long windowMicros)
    {
        var sorted = timestampsMicros.Order().ToArray();
        var max = 0;
        var start = 0;
        for (var end = 0; end < sorted.Length; end++)
        {
            while (sorted[start] <= sorted[end] - windowMicros)
            {
                start++;
            }

            max = Math.Max(max, end - start + 1);
        }

        return max;
    }
}

/// <summary>What <see cref="RateLimitTestKit.HammerAsync"/> saw: admissions, rejections, the most admissions in any 1 s window, and those over the limit.</summary>
internal sealed record HammerResult(int Admitted, int Rejected, int MaxInWindow, int Over)
{
    /// <summary>The bounds of the log-mode hammer (limit 50, 3.5 s): exact, reached, sliding, pressed.</summary>
    public void AssertLogModeBounds()
    {
        Assert.Equal(0, Over);
        Assert.True(MaxInWindow <= 50, $"{MaxInWindow} admissions in one sliding window; the limit is 50");
        Assert.True(MaxInWindow == 50, $"the limit was never reached ({MaxInWindow}): the test did not load the limiter");
        Assert.True(Admitted >= 150, $"only {Admitted} admitted over 3.5 windows: windows do not slide");
        Assert.True(Rejected > Admitted, "the clients did not press hard enough to test the limit");
    }

    /// <summary>The bounds of the counter-mode hammer (limit 200, 4.5 s): never over, nearly reached, sliding, pressed.</summary>
    public void AssertCounterModeBounds()
    {
        Assert.True(Over == 0, $"{Over} of {Admitted} admissions were over the limit in their sliding window; at most {MaxInWindow} in one window");
        Assert.True(MaxInWindow <= 200, $"{MaxInWindow} admissions in one sliding window; the limit is 200");
        Assert.True(MaxInWindow >= 190, $"the limit was far from reached ({MaxInWindow}): the test did not load the limiter");
        Assert.True(Admitted >= 600, $"only {Admitted} admitted over 4.5 windows: windows do not slide");
        Assert.True(Rejected > Admitted / 2, "the clients did not press hard enough to test the limit");
    }
}

/// <summary>A plain connection to the first test Redis, to look at keys and server state directly.</summary>
internal sealed class RedisProbe : IAsyncDisposable
{
    private readonly ConnectionMultiplexer _connection;

    private RedisProbe(ConnectionMultiplexer connection) => _connection = connection;

    public IDatabase Database => _connection.GetDatabase();

    public IServer Server => _connection.GetServer(_connection.GetEndPoints()[0]);

    public static async Task<RedisProbe> ConnectAsync(Testing.TestServers servers) =>
        new(await ConnectionMultiplexer.ConnectAsync(servers.Redis[0].EndPoint + ",abortConnect=false,connectTimeout=2000,syncTimeout=5000,allowAdmin=true"));

    public async Task<string[]> KeysAsync(string prefix)
    {
        var result = (RedisResult[])(await Database.ExecuteAsync("KEYS", prefix + "*"))!;
        return [.. result.Select(r => (string)r!)];
    }

    /// <summary>The number of calls of a command so far (<c>INFO commandstats</c>).</summary>
    public async Task<long> CallsAsync(string command)
    {
        var info = (string)(await Database.ExecuteAsync("INFO", "commandstats"))!;
        foreach (var line in info.Split('\n'))
        {
            if (line.StartsWith("cmdstat_" + command + ":calls=", StringComparison.Ordinal))
            {
                var start = line.IndexOf('=', StringComparison.Ordinal) + 1;
                return long.Parse(line[start..line.IndexOf(',', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        await _connection.CloseAsync(false);
        _connection.Dispose();
    }
}

/// <summary>Keeps every log entry of the limiter, with its level.</summary>
internal sealed class RecordingLogger : ILogger<RedisRateLimiter>
{
    private readonly ConcurrentQueue<(LogLevel Level, string Message)> _entries = new();

    public IReadOnlyCollection<(LogLevel Level, string Message)> Entries => _entries;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _entries.Enqueue((logLevel, formatter(state, exception)));
}

/// <summary>Records the measurements of meter Scaling.RateLimit.</summary>
internal sealed class MeasurementRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)> _measurements = new();

    public MeasurementRecorder()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Scaling.RateLimit")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i.Name, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Add(i.Name, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i.Name, v, tags));
        _listener.Start();
    }

    public IReadOnlyCollection<(string Instrument, double Value, Dictionary<string, object?> Tags)> Measurements
    {
        get
        {
            _listener.RecordObservableInstruments();
            return [.. _measurements];
        }
    }

    public void Dispose() => _listener.Dispose();

    private void Add(string name, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var dictionary = new Dictionary<string, object?>();
        foreach (var tag in tags)
        {
            dictionary[tag.Key] = tag.Value;
        }

        _measurements.Enqueue((name, value, dictionary));
    }
}
