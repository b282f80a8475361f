using Npgsql;
using Scaling.Testing;

namespace Scaling.Locks.Tests;

/// <summary>Fencing tokens from the PostgreSQL database that holds the protected data.</summary>
[Collection(ServersCollection.Name)]
public sealed class FencingTests(ServersFixture fixture) : IAsyncLifetime
{
    private readonly Testing.TestServers _servers = fixture.Servers;
    private NpgsqlDataSource _dataSource = null!;
    private FencedDocuments _documents = null!;
    private PostgresFencingTokenSource _tokens = null!;

    public async Task InitializeAsync()
    {
        _dataSource = NpgsqlDataSource.Create(_servers.Shard1Primary.ConnectionString());
        _tokens = new PostgresFencingTokenSource(_dataSource);
        await _tokens.EnsureSchemaAsync();
        _documents = new FencedDocuments(_dataSource, "fenced_documents");
        await _documents.CreateAsync();
    }

    public async Task DisposeAsync() => await _dataSource.DisposeAsync();

    [Fact]
    public async Task A_holder_paused_past_its_ttl_is_rejected_and_the_new_holder_writes()
    {
        await using var provider = await LockTestKit.Provider(_servers, o => o.AutoExtend = false, _tokens).WarmAsync();
        var resource = LockTestKit.Resource("fenced-doc");
        var a = await provider.AcquireAsync(resource, TimeSpan.FromMilliseconds(400), TimeSpan.Zero);
        Assert.NotNull(a.FencingToken);

        // A stops the world (a long GC pause, a VM freeze) past its TTL, without extending.
        await Task.Delay(a.ValidUntil - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(150));
        // The lost signal is a timer at the end of the validity: on a loaded 2-core machine it may run a little late.
        await Eventually.TrueAsync(() => Task.FromResult(a.LostToken.IsCancellationRequested), TimeSpan.FromSeconds(2), "A's LostToken fired");

        await using var b = await provider.AcquireAsync(resource, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(3));
        Assert.True(b.FencingToken > a.FencingToken, $"B's token {b.FencingToken} is not above A's {a.FencingToken}");
        await _documents.WriteAsync(resource, b.FencingToken!.Value, "written by B");

        // A wakes up and writes as if it still held the lock.
        var stale = await Assert.ThrowsAsync<StaleFencingTokenException>(() => _documents.WriteAsync(resource, a.FencingToken!.Value, "written by A"));

        Assert.Equal(a.FencingToken, stale.Token);
        Assert.Equal(b.FencingToken, stale.LatestToken);
        Assert.Contains("is stale", stale.Message, StringComparison.Ordinal);
        Assert.Equal(("written by B", b.FencingToken!.Value), await _documents.ReadAsync(resource));
        await a.DisposeAsync();
    }

    [Fact]
    public async Task A_stale_holder_is_rejected_even_before_the_new_holder_writes()
    {
        await using var provider = await LockTestKit.Provider(_servers, o => o.AutoExtend = false, _tokens).WarmAsync();
        var resource = LockTestKit.Resource("fenced-early");
        var a = await provider.AcquireAsync(resource, TimeSpan.FromMilliseconds(300), TimeSpan.Zero);
        await _documents.WriteAsync(resource, a.FencingToken!.Value, "first by A"); // while A holds it: accepted
        await Task.Delay(a.ValidUntil - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(150));
        await using var b = await provider.AcquireAsync(resource, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(3));

        await Assert.ThrowsAsync<StaleFencingTokenException>(() => _documents.WriteAsync(resource, a.FencingToken.Value, "second by A"));

        Assert.Equal(("first by A", a.FencingToken.Value), await _documents.ReadAsync(resource));
        await a.DisposeAsync();
    }

    [Fact]
    public async Task Tokens_are_strictly_increasing_per_resource_even_when_issued_concurrently()
    {
        var resource = LockTestKit.Resource("sequence");
        var other = LockTestKit.Resource("sequence-other");

        var tokens = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => _tokens.NextAsync(i % 4 == 0 ? other : resource)));

        var mine = tokens.Where((_, i) => i % 4 != 0).Order().ToArray();
        Assert.Equal(Enumerable.Range(1, 30).Select(i => (long)i), mine);
        Assert.Equal(31, await _tokens.NextAsync(resource));
        Assert.Equal(11, await _tokens.NextAsync(other));
    }

    [Fact]
    public async Task A_token_that_was_never_issued_is_rejected()
    {
        var resource = LockTestKit.Resource("never-issued");

        var none = await Assert.ThrowsAsync<StaleFencingTokenException>(() => _documents.WriteAsync(resource, 1, "x"));
        Assert.Null(none.LatestToken);

        var issued = await _tokens.NextAsync(resource);
        var ahead = await Assert.ThrowsAsync<StaleFencingTokenException>(() => _documents.WriteAsync(resource, issued + 1, "x"));
        Assert.Contains("was never issued", ahead.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_batch_check_writes_with_the_latest_token_and_fails_the_whole_batch_with_a_stale_one()
    {
        // Any character may be in a resource's name; the rejection carries it back whole.
        var resource = LockTestKit.Resource("batch-check 'quoted' \\ back. Resource: x\n");
        var first = await _tokens.NextAsync(resource);
        await _documents.WriteBatchAsync(resource, first, "first");
        Assert.Equal(("first", first), await _documents.ReadAsync(resource));

        var second = await _tokens.NextAsync(resource);
        var stale = await Assert.ThrowsAsync<StaleFencingTokenException>(() => _documents.WriteBatchAsync(resource, first, "stale"));
        Assert.Equal(resource, stale.Resource);
        Assert.Equal(first, stale.Token);
        Assert.Equal(second, stale.LatestToken);
        Assert.Contains("is stale", stale.Message, StringComparison.Ordinal);
        var rejected = Assert.IsType<PostgresException>(stale.InnerException);
        Assert.Equal(FencingGuard.StaleTokenSqlState, rejected.SqlState);
        Assert.Equal(("first", first), await _documents.ReadAsync(resource)); // the batch's write did not commit

        var never = await Assert.ThrowsAsync<StaleFencingTokenException>(() => _documents.WriteBatchAsync(LockTestKit.Resource("batch-never"), 1, "x"));
        Assert.Null(never.LatestToken);
        Assert.False(FencingGuard.TryGetStaleToken(new InvalidOperationException("x", new TimeoutException()), out _));

        await _documents.WriteBatchAsync(resource, second, "second");
        Assert.Equal(("second", second), await _documents.ReadAsync(resource));
    }

    [Fact]
    public async Task The_batch_check_holds_off_a_new_token_until_its_batch_commits_and_the_next_command_issues_in_a_batch()
    {
        var resource = LockTestKit.Resource("batch-in-flight");
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var issue = new NpgsqlBatch(connection, transaction) { BatchCommands = { PostgresFencingTokenSource.CreateNextCommand(resource) } })
        {
            Assert.Equal(1L, await issue.ExecuteScalarAsync());
        }

        await using (var check = new NpgsqlBatch(connection, transaction) { BatchCommands = { FencingGuard.CreateCheckCommand(resource, 1) } })
        {
            Assert.Equal(1L, await check.ExecuteScalarAsync());
        }

        var next = _tokens.NextAsync(resource);
        await Task.Delay(300);
        Assert.False(next.IsCompleted, "a newer token was issued while a write checked in a batch was uncommitted");

        await transaction.CommitAsync();
        Assert.Equal(2, await next.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task A_new_token_waits_for_a_checked_write_in_flight()
    {
        var resource = LockTestKit.Resource("in-flight");
        var token = await _tokens.NextAsync(resource);
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await FencingGuard.CheckAsync(transaction, resource, token);

        var next = _tokens.NextAsync(resource);
        await Task.Delay(300);
        Assert.False(next.IsCompleted, "a newer token was issued while a write checked against the current one was uncommitted");

        await transaction.CommitAsync();
        Assert.Equal(token + 1, await next.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Without_a_token_source_handles_carry_no_token()
    {
        await using var provider = await LockTestKit.Provider(_servers).WarmAsync();
        await using var handle = await provider.AcquireAsync(LockTestKit.Resource("no-fencing"), TimeSpan.FromSeconds(5), TimeSpan.Zero);

        Assert.Null(handle.FencingToken);
    }
}
