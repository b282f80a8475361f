using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Scaling.TestServers.Tests")]
