using System.Diagnostics;
using Npgsql;
using Scaling.Testing;

namespace Scaling.Locks.Tests;

/// <summary>The spans of the <c>Scaling.Locks</c> activity source: Redlock acquisitions and releases on the three test masters.</summary>
[Collection(ServersCollection.Name)]
public sealed class TracingTests(ServersFixture fixture) : IAsyncLifetime
{
    private readonly Testing.TestServers _servers = fixture.Servers;
    private NpgsqlDataSource _dataSource = null!;
    private PostgresFencingTokenSource _tokens = null!;

    public async Task InitializeAsync()
    {
        _dataSource = NpgsqlDataSource.Create(_servers.Shard1Primary.ConnectionString());
        _tokens = new PostgresFencingTokenSource(_dataSource);
        await _tokens.EnsureSchemaAsync();
    }

    public async Task DisposeAsync() => await _dataSource.DisposeAsync();

    [Fact]
    public async Task A_lock_acquired_on_three_masters_is_traced_with_its_fencing_token_and_each_masters_answer_and_its_release()
    {
        using var spans = new ActivityRecorder("Scaling.Locks");
        await using var provider = await LockTestKit.Provider(_servers, fencing: _tokens).WarmAsync();
        var resource = LockTestKit.Resource("traced");

        using var trace = ActivityRecorder.StartTrace();
        var handle = await provider.AcquireAsync(resource, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5));
        var token = Assert.NotNull(handle.FencingToken);
        await handle.DisposeAsync();

        var acquire = Assert.Single(spans.InTrace(trace, "lock acquire"));
        Assert.Equal(ActivityKind.Internal, acquire.Kind);
        Assert.Equal(trace.SpanId, acquire.ParentSpanId);
        Assert.Equal(resource, acquire.GetTagItem("scaling.locks.resource"));
        Assert.Equal("acquired", acquire.GetTagItem("scaling.locks.status"));
        Assert.Equal(1, acquire.GetTagItem("scaling.locks.attempts"));
        Assert.Equal(token, acquire.GetTagItem("scaling.locks.fencing_token"));
        Assert.Equal(3, acquire.GetTagItem("scaling.locks.masters"));
        Assert.Equal(2, acquire.GetTagItem("scaling.locks.quorum"));
        Assert.Equal(ActivityStatusCode.Unset, acquire.Status);

        // One event per master, with its endpoint and answer (a master still answering when the quorum was reached is pending).
        var masters = acquire.Events.Where(e => e.Name == "lock master").Select(e => e.Tags.ToDictionary(t => t.Key, t => t.Value)).ToList();
        Assert.Equal(_servers.Redis.Select(r => r.Port).Order(), masters.Select(m => (int)m["server.port"]!).Order());
        Assert.All(masters, m => Assert.Equal("127.0.0.1", m["server.address"]));
        Assert.All(masters, m => Assert.Contains((string)m["scaling.locks.master.outcome"]!, new[] { "granted", "pending" }));
        Assert.True(masters.Count(m => Equals(m["scaling.locks.master.outcome"], "granted")) >= 2);
        Assert.All(masters, m => Assert.True((double)m["scaling.locks.master.duration"]! >= 0));

        var release = Assert.Single(spans.InTrace(trace, "lock release"));
        Assert.Equal(resource, release.GetTagItem("scaling.locks.resource"));
        Assert.True((int)release.GetTagItem("scaling.locks.released")! >= 2);
        Assert.Equal(ActivityStatusCode.Unset, release.Status);
    }

    [Fact]
    public async Task A_lock_held_by_another_owner_is_traced_as_conflicted_with_an_error_status()
    {
        using var spans = new ActivityRecorder("Scaling.Locks");
        // Rounds bounded at 2 s, not the default 250 ms: on a busy machine a round that times out is NoQuorum, and this
        // test is about a lock held by another owner, which every master answers.
        await using var provider = await LockTestKit.Provider(_servers, o => o.NodeTimeout = TimeSpan.FromSeconds(2)).WarmAsync();
        var resource = LockTestKit.Resource("traced-contended");
        await using var holder = await provider.AcquireAsync(resource, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5));

        using var trace = ActivityRecorder.StartTrace();
        var timeout = await Assert.ThrowsAsync<LockTimeoutException>(() => provider.AcquireAsync(resource, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(1)));

        var acquire = Assert.Single(spans.InTrace(trace, "lock acquire"));
        Assert.Equal(resource, acquire.GetTagItem("scaling.locks.resource"));
        Assert.Equal("conflicted", acquire.GetTagItem("scaling.locks.status"));
        Assert.Equal(timeout.LastAttempt!.Attempts, acquire.GetTagItem("scaling.locks.attempts"));
        Assert.True((int)acquire.GetTagItem("scaling.locks.attempts")! >= 2, "the wait allows a retry");
        Assert.Null(acquire.GetTagItem("scaling.locks.fencing_token"));
        Assert.Equal(ActivityStatusCode.Error, acquire.Status);
        Assert.Equal("conflicted", acquire.GetTagItem("error.type"));
        var outcomes = acquire.Events.Where(e => e.Name == "lock master").Select(e => e.Tags.Single(t => t.Key == "scaling.locks.master.outcome").Value).ToList();
        Assert.Equal(3, outcomes.Count);
        Assert.Contains("conflicted", outcomes);
        Assert.DoesNotContain("granted", outcomes);
    }
}
