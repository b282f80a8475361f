using Xunit.Abstractions;
using Xunit.Sdk;

namespace Scaling.Testing;

/// <summary>
/// The real servers, started once for the whole test assembly the first time a test of the
/// <see cref="ServersCollection"/> needs them, and torn down after the last one. Tests that inject a
/// fault must leave the server running again (restart/resume in a <c>finally</c>).
/// </summary>
public sealed class ServersFixture(IMessageSink diagnostics) : IAsyncLifetime
{
    private TestServers? _servers;

    /// <summary>The running set.</summary>
    public TestServers Servers => _servers ?? throw new InvalidOperationException("The servers are not started yet.");

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        _servers = await TestServers.StartAsync();
        diagnostics.OnMessage(new DiagnosticMessage(
            $"Test servers: {_servers.All.Count} servers ready in {_servers.StartupTime.TotalSeconds:0.00} s in {_servers.RootDirectory}"));
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_servers is not null)
        {
            await _servers.DisposeAsync();
        }
    }
}

/// <summary>The collection of tests that use the real servers; its tests run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<ServersFixture>
{
    /// <summary>The collection's name, for <c>[Collection(ServersCollection.Name)]</c>.</summary>
    public const string Name = "servers";
}
