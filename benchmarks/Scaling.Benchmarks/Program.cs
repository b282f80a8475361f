using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

if (args.Length > 0 && args[0] == "cache-invalidation")
{
    return await Scaling.Benchmarks.Cache.InvalidationLatency.RunAsync(args);
}

if (args.Any(a => a is "--list" or "--help" or "-h" or "--info" or "--version"))
{
    BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    return 0;
}

// BenchmarkDotNet builds a copy of the project (and the five packages) for each job; its default limit of 2 minutes
// is too short on a loaded 2-core machine (a CI dry run failed so), 10 minutes is not.
var config = ManualConfig.Create(DefaultConfig.Instance).WithBuildTimeout(TimeSpan.FromMinutes(10));

// A run whose filter matched nothing, or in which any benchmark failed, ends with a non-zero exit code (scripts and
// CI rely on it).
var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config).ToList();
if (summaries.Count == 0 || summaries.All(s => s.BenchmarksCases.Length == 0))
{
    Console.Error.WriteLine("No benchmark matched the filter.");
    return 1;
}

var failed = summaries
    .SelectMany(s => s.Reports.Where(r => !r.Success).Select(r => r.BenchmarkCase.DisplayInfo)
        .Concat(s.HasCriticalValidationErrors ? [s.Title + ": critical validation errors"] : []))
    .ToList();
foreach (var failure in failed)
{
    Console.Error.WriteLine($"Benchmark failed: {failure}");
}

return failed.Count == 0 ? 0 : 1;
