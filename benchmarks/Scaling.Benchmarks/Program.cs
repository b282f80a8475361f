using BenchmarkDotNet.Running;

if (args.Length > 0 && args[0] == "cache-invalidation")
{
    return await Scaling.Benchmarks.Cache.InvalidationLatency.RunAsync(args);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
