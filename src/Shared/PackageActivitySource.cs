using System.Diagnostics;
using System.Reflection;

namespace Scaling;

/// <summary>Creates a package's <see cref="ActivitySource"/>: named like its meter, versioned like its assembly.</summary>
internal static class PackageActivitySource
{
    /// <summary>The source named <paramref name="name"/>, with the informational version of <paramref name="anchor"/>'s assembly.</summary>
    internal static ActivitySource Create(string name, Type anchor)
        => new(name, anchor.Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion);
}
