using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Scaling.Benchmarks.Cache;

/// <summary>
/// The "Factory calls" column of <see cref="StampedeBenchmarks"/>: how many times each cache called the factory per
/// stampede (mean and maximum over every stampede of the run). Each benchmark runs in its own process, so the
/// benchmark writes its count to a file (<see cref="Record"/>) and this column, in BenchmarkDotNet's host process,
/// reads it when the summary is built.
/// </summary>
internal sealed class FactoryCallsColumn : IColumn
{
    /// <inheritdoc />
    public string Id => nameof(FactoryCallsColumn);

    /// <inheritdoc />
    public string ColumnName => "Factory calls / stampede";

    /// <inheritdoc />
    public bool AlwaysShow => true;

    /// <inheritdoc />
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc />
    public int PriorityInCategory => 0;

    /// <inheritdoc />
    public bool IsNumeric => false;

    /// <inheritdoc />
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc />
    public string Legend => "Factory calls per 1,000 concurrent GetOrCreate calls on one missing key: mean (max) over every stampede of the run";

    /// <summary>Where the benchmark of <paramref name="method"/> leaves its count.</summary>
    public static string FileOf(string method) => Path.Combine(Path.GetTempPath(), "scaling-benchmarks", "stampede", method + ".txt");

    /// <summary>Called by the benchmark process at its cleanup.</summary>
    public static void Record(string method, long stampedes, long calls, long max)
    {
        var file = FileOf(method);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var text = stampedes == 0 ? "-" : string.Create(CultureInfo.InvariantCulture, $"{(double)calls / stampedes:0.00} (max {max})");
        File.WriteAllText(file, text);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"// Cache stampede: {method}: {calls} factory calls in {stampedes} stampedes of 1,000 callers: {text} per stampede"));
    }

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var file = FileOf(benchmarkCase.Descriptor.WorkloadMethod.Name);
        return File.Exists(file) ? File.ReadAllText(file) : "?";
    }

    /// <inheritdoc />
    public bool IsAvailable(Summary summary) => true;

    /// <inheritdoc />
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}
