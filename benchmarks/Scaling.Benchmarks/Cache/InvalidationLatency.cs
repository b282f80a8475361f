using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;
using Scaling.Cache;
using Scaling.Testing;

namespace Scaling.Benchmarks.Cache;

/// <summary>
/// Cross-instance invalidation latency: two <see cref="TwoTierCache"/> instances on separate connections to
/// one Redis; instance A updates a key that B holds in L1, and B polls until it serves the new value. Reports
/// p50/p99/max from the start of A's <c>SetAsync</c> and from its return. Run with
/// <c>dotnet run -c Release --project benchmarks/Scaling.Benchmarks -- cache-invalidation [iterations]</c>.
/// </summary>
internal static class InvalidationLatency
{
    internal static async Task<int> RunAsync(string[] args)
    {
        var iterations = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2000;
        if (iterations < 10)
        {
            Console.Error.WriteLine("iterations must be at least 10");
            return 2;
        }

        await using var servers = await TestServers.StartAsync();
        var options = new ScalingCacheOptions { RedisConfiguration = servers.Redis[0].EndPoint, KeyPrefix = "latency:" };
        await using var a = new TwoTierCache(Options.Create(options));
        await using var b = new TwoTierCache(Options.Create(options));
        while (!a.IsBackplaneConnected || !b.IsBackplaneConnected)
        {
            await Task.Delay(10);
        }

        await Task.Delay(200);
        var lifetime = new HybridCacheEntryOptions { Expiration = TimeSpan.FromHours(1) };
        Func<CancellationToken, ValueTask<int>> never = static _ => ValueTask.FromResult(-1);
        var fromStart = new double[iterations];
        var fromReturn = new double[iterations];
        for (var i = 0; i < iterations + 100; i++)
        {
            var version = i + 1;
            await b.GetOrCreateAsync("key", never, lifetime); // B holds the current value in L1
            var start = Stopwatch.GetTimestamp();
            await a.SetAsync("key", version, lifetime);
            var returned = Stopwatch.GetTimestamp();
            while (await b.GetOrCreateAsync("key", never, lifetime) != version)
            {
                Thread.SpinWait(20);
            }

            var seen = Stopwatch.GetTimestamp();
            if (i >= 100) // warm-up
            {
                fromStart[i - 100] = Stopwatch.GetElapsedTime(start, seen).TotalMilliseconds;
                fromReturn[i - 100] = Stopwatch.GetElapsedTime(returned, seen).TotalMilliseconds;
            }
        }

        Array.Sort(fromStart);
        Array.Sort(fromReturn);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Cross-instance invalidation, {iterations} updates (A SetAsync -> B serves the new value):"));
        Console.WriteLine(Row("from the start of A's SetAsync", fromStart));
        Console.WriteLine(Row("after A's SetAsync returned", fromReturn));
        return 0;
    }

    private static string Row(string what, double[] sorted) => string.Create(
        CultureInfo.InvariantCulture,
        $"  {what,-32} p50 {Percentile(sorted, 0.50):0.000} ms  p99 {Percentile(sorted, 0.99):0.000} ms  max {sorted[^1]:0.000} ms");

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
