namespace BookingHost.Tests.Observability;

/// <summary>Files of the repository the tests read (found from the test assembly's folder upwards).</summary>
internal static class RepositoryFiles
{
    /// <summary>BookingHost's Prometheus folder: the rules, their unit tests and the example configuration.</summary>
    public static string PrometheusFolder => Path.Combine(Root, "samples", "BookingHost", "prometheus");

    /// <summary>The repository's root (the folder with Scaling.sln).</summary>
    public static string Root
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Scaling.sln")))
            {
                directory = directory.Parent;
            }

            return directory?.FullName ?? throw new InvalidOperationException("The repository root (with Scaling.sln) was not found above " + AppContext.BaseDirectory);
        }
    }
}
