using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;
using Scaling.Cache;
using Scaling.Testing;
using ZiggyCreatures.Caching.Fusion;

namespace Scaling.Benchmarks.Cache;

/// <summary>
/// Cross-instance invalidation latency, ours beside FusionCache's Redis backplane in the same run: two instances of
/// each on separate connections to one Redis; instance A updates a key that B holds in L1, and B polls until it
/// serves the new value. Reports p50/p99/max from the start of A's <c>SetAsync</c> and from its return. FusionCache
/// is set up by <see cref="PeerCaches"/> (Redis L2 + Redis backplane, defaults otherwise: its <c>SetAsync</c> may
/// return before its backplane message is published, so "after SetAsync returned" is not comparable between the two;
/// "from the start" is). Microsoft's HybridCache has no backplane, so it has no such figure. Run with
/// <c>dotnet run -c Release --project benchmarks/Scaling.Benchmarks -- cache-invalidation [iterations]</c>.
/// </summary>
internal static class InvalidationLatency
{
    private const int WarmUp = 100;

    internal static async Task<int> RunAsync(string[] args)
    {
        var iterations = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2000;
        if (iterations < 10)
        {
            Console.Error.WriteLine("iterations must be at least 10");
            return 2;
        }

        await using var servers = await TestServers.StartAsync();
        var redis = servers.Redis[0].EndPoint;
        var lifetime = new HybridCacheEntryOptions { Expiration = TimeSpan.FromHours(1) };
        Func<CancellationToken, ValueTask<int>> never = static _ => ValueTask.FromResult(-1);

        var options = new ScalingCacheOptions { RedisConfiguration = redis, KeyPrefix = "latency:" };
        await using (var a = new TwoTierCache(Options.Create(options)))
        await using (var b = new TwoTierCache(Options.Create(options)))
        {
            while (!a.IsBackplaneConnected || !b.IsBackplaneConnected)
            {
                await Task.Delay(10);
            }

            await Task.Delay(200);
            var (fromStart, fromReturn) = await MeasureAsync(
                iterations,
                version => a.SetAsync("key", version, lifetime).AsTask(),
                () => b.GetOrCreateAsync("key", never, lifetime));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Scaling.Cache TwoTierCache, cross-instance invalidation, {iterations} updates (A SetAsync -> B serves the new value):"));
            Console.WriteLine(Row("from the start of A's SetAsync", fromStart));
            Console.WriteLine(Row("after A's SetAsync returned", fromReturn));
        }

        await using (var a = PeerCaches.FusionCache(redis, "latency-fusion:", TimeSpan.FromHours(1)))
        await using (var b = PeerCaches.FusionCache(redis, "latency-fusion:", TimeSpan.FromHours(1)))
        {
            var fusionA = a.Fusion;
            var fusionB = b.Fusion;
            await Task.Delay(200);
            var (fromStart, fromReturn) = await MeasureAsync(
                iterations,
                version => fusionA.SetAsync("key", version).AsTask(),
                () => fusionB.GetOrSetAsync<int>("key", static (_, _) => Task.FromResult(-1)));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"FusionCache 2.9 (Redis L2 + Redis backplane), cross-instance invalidation, {iterations} updates (A SetAsync -> B serves the new value):"));
            Console.WriteLine(Row("from the start of A's SetAsync", fromStart));
            Console.WriteLine(Row("after A's SetAsync returned", fromReturn));
        }

        return 0;
    }

    /// <summary>Per update: B holds the current value in L1, A writes the next, B polls until it serves it.</summary>
    private static async Task<(double[] FromStart, double[] FromReturn)> MeasureAsync(int iterations, Func<int, Task> setOnA, Func<ValueTask<int>> readOnB)
    {
        var fromStart = new double[iterations];
        var fromReturn = new double[iterations];
        for (var i = 0; i < iterations + WarmUp; i++)
        {
            var version = i + 1;
            await readOnB(); // B holds the current value in L1
            var start = Stopwatch.GetTimestamp();
            await setOnA(version);
            var returned = Stopwatch.GetTimestamp();
            while (await readOnB() != version)
            {
                Thread.SpinWait(20);
            }

            var seen = Stopwatch.GetTimestamp();
            if (i >= WarmUp)
            {
                fromStart[i - WarmUp] = Stopwatch.GetElapsedTime(start, seen).TotalMilliseconds;
                fromReturn[i - WarmUp] = Stopwatch.GetElapsedTime(returned, seen).TotalMilliseconds;
            }
        }

        Array.Sort(fromStart);
        Array.Sort(fromReturn);
        return (fromStart, fromReturn);
    }

    private static string Row(string what, double[] sorted) => string.Create(
        CultureInfo.InvariantCulture,
        $"  {what,-32} p50 {Percentile(sorted, 0.50):0.000} ms  p99 {Percentile(sorted, 0.99):0.000} ms  max {sorted[^1]:0.000} ms");

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
