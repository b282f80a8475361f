using System.Data;
using System.Diagnostics;
using Npgsql;
using Scaling.Testing;
using Microsoft.Extensions.Options;

namespace Scaling.Data.Tests;

[Collection(ServersCollection.Name)]
public sealed class WriteResilienceTests(ServersFixture fixture)
{
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task A_serialization_failure_is_retried_and_both_increments_land_exactly_once()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY, n int NOT NULL");
        await _servers.Shard1Primary.ExecuteAsync($"INSERT INTO {table} VALUES (1, 0)");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));
        using var metrics = new DataMetricsCollector(data.Name);

        var calls = 0;
        using var bothRead = new Barrier(2);
        async Task<int> IncrementAsync(NpgsqlTransaction tx, CancellationToken ct)
        {
            var call = Interlocked.Increment(ref calls);
            await using (var read = new NpgsqlCommand($"SELECT n FROM {table} WHERE id = 1", tx.Connection, tx))
            {
                await read.ExecuteScalarAsync(ct);
            }

            if (call <= 2)
            {
                // Both first attempts have read the same snapshot before either updates: one of them must fail with 40001.
                await Task.Run(() => bothRead.SignalAndWait(TimeSpan.FromSeconds(10)), ct);
            }

            await using var update = new NpgsqlCommand($"UPDATE {table} SET n = n + 1 WHERE id = 1", tx.Connection, tx);
            return await update.ExecuteNonQueryAsync(ct);
        }

        var results = await Task.WhenAll(
            data.WriteAsync(IncrementAsync, isolationLevel: IsolationLevel.Serializable),
            data.WriteAsync(IncrementAsync, isolationLevel: IsolationLevel.Serializable));

        Assert.All(results, r => Assert.Equal(1, r.Value));
        Assert.Equal(2, await _servers.Shard1Primary.ScalarAsync<int>($"SELECT n FROM {table} WHERE id = 1"));
        Assert.Equal(3, calls);
        Assert.Equal(1, metrics.Sum("scaling.data.retries", "operation", "write"));
    }

    [Fact]
    public async Task A_connection_lost_during_a_non_idempotent_write_is_not_retried_but_an_idempotent_one_is()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));

        var calls = 0;
        async Task<int> WriteThenLoseConnectionAsync(NpgsqlTransaction tx, CancellationToken ct)
        {
            var call = Interlocked.Increment(ref calls);
            await using (var insert = new NpgsqlCommand($"INSERT INTO {table} VALUES ({call})", tx.Connection, tx))
            {
                await insert.ExecuteNonQueryAsync(ct);
            }

            if (call == 1)
            {
                await using var kill = new NpgsqlCommand("SELECT pg_terminate_backend(pg_backend_pid())", tx.Connection, tx);
                await kill.ExecuteNonQueryAsync(ct);
            }

            return call;
        }

        var lost = await Assert.ThrowsAnyAsync<NpgsqlException>(() => data.WriteAsync(WriteThenLoseConnectionAsync));
        Assert.True(TransientErrors.IsConnectionFailure(lost));
        Assert.Equal(1, calls);

        calls = 0;
        var retried = await data.WriteAsync(WriteThenLoseConnectionAsync, idempotent: true);
        Assert.Equal(2, calls);
        Assert.Equal(2, retried.Value);
        Assert.Equal(1L, await _servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table}"));
    }

    [Fact]
    public async Task A_failing_statement_is_not_retried_and_rolls_back()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));
        var calls = 0;
        var error = await Assert.ThrowsAsync<PostgresException>(() => data.WriteAsync(async (tx, ct) =>
        {
            Interlocked.Increment(ref calls);
            await using var insert = new NpgsqlCommand($"INSERT INTO {table} VALUES (1), (1)", tx.Connection, tx);
            return await insert.ExecuteNonQueryAsync(ct);
        }));
        Assert.Equal(PostgresErrorCodes.UniqueViolation, error.SqlState);
        Assert.Equal(1, calls);
        Assert.Equal(0L, await _servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table}"));
    }

    [Fact]
    public async Task A_killed_primary_makes_writes_fail_fast_with_PrimaryUnavailableException_and_nothing_runs()
    {
        // Shard 2's primary is this test's own: killing it disturbs no other test of this assembly.
        var shard2 = _servers.Shard2Primary;
        await shard2.ExecuteAsync("CREATE TABLE IF NOT EXISTS primary_down (id int)");
        await shard2.ExecuteAsync("CHECKPOINT"); // the servers run with synchronous_commit=off: make the table survive the kill
        await using var data = new ReadWriteDataSource(Options.Create(new ScalingDataOptions
        {
            Name = "shard2-down",
            PrimaryConnectionString = shard2.ConnectionString(),
            ConnectTimeout = TimeSpan.FromSeconds(2),
        }));
        await shard2.KillAsync();
        try
        {
            var calls = 0;
            var stopwatch = Stopwatch.StartNew();
            var down = await Assert.ThrowsAsync<PrimaryUnavailableException>(() => data.WriteAsync(async (tx, ct) =>
            {
                Interlocked.Increment(ref calls);
                await using var insert = new NpgsqlCommand("INSERT INTO primary_down VALUES (1)", tx.Connection, tx);
                return await insert.ExecuteNonQueryAsync(ct);
            }));
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"took {stopwatch.Elapsed}");
            Assert.Equal(0, calls);
            Assert.Contains($"127.0.0.1:{shard2.Port}", down.Message, StringComparison.Ordinal);
            Assert.Contains("nothing was sent", down.Message, StringComparison.Ordinal);
            Assert.IsAssignableFrom<NpgsqlException>(down.InnerException);

            await Assert.ThrowsAsync<PrimaryUnavailableException>(async () => await data.OpenWriteConnectionAsync());

            // After repeated failures the breaker is open: the next write fails at once, without a connection attempt.
            for (var i = 0; i < 4; i++)
            {
                await Assert.ThrowsAsync<PrimaryUnavailableException>(() => data.WriteAsync((_, _) => Task.FromResult(0)));
            }

            var open = await Assert.ThrowsAsync<PrimaryUnavailableException>(() => data.WriteAsync((_, _) => Task.FromResult(0)));
            Assert.Contains("circuit breaker is open", open.Message, StringComparison.Ordinal);
        }
        finally
        {
            await shard2.RestartAsync();
        }

        Assert.Equal(0L, await shard2.ScalarAsync<long>("SELECT count(*) FROM primary_down"));
    }

    [Fact]
    public async Task After_the_primary_restarted_one_write_meets_a_dead_pooled_connection_and_the_next_opens_a_new_one()
    {
        // Shard 2's primary is this test's own (as in the killed-primary test).
        var shard2 = _servers.Shard2Primary;
        await shard2.ExecuteAsync("CREATE TABLE IF NOT EXISTS restarted_primary (id int)");
        await using var data = new ReadWriteDataSource(Options.Create(new ScalingDataOptions
        {
            Name = "shard2-restarted",
            PrimaryConnectionString = shard2.ConnectionString(),
            ConfigureDataSource = (b, _) => b.ConnectionStringBuilder.MaxPoolSize = 4,
        }));

        // Four connections in the pool, idle, then the server restarts under them.
        var gate = new TaskCompletionSource();
        var opened = 0;
        var holders = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            await using var connection = await data.OpenWriteConnectionAsync();
            Interlocked.Increment(ref opened);
            await gate.Task;
        })).ToList();
        await Eventually.TrueAsync(() => Task.FromResult(Volatile.Read(ref opened) == 4), TimeSpan.FromSeconds(10), "four connections open at once");
        gate.SetResult();
        await Task.WhenAll(holders);
        await shard2.RestartAsync();

        static Task<WriteResult<int>> InsertAsync(ReadWriteDataSource data) => data.WriteAsync(async (tx, ct) =>
        {
            await using var insert = new NpgsqlCommand("INSERT INTO restarted_primary VALUES (1)", tx.Connection, tx);
            return await insert.ExecuteNonQueryAsync(ct);
        });

        // The first write lands on a connection the restart closed: its outcome is unknown to the data source (nothing
        // was sent here, but it cannot tell), so it is not retried. Npgsql clears the pool when a connection breaks, so
        // the other three dead connections go with it and the next writes open new ones.
        var lost = await Assert.ThrowsAnyAsync<NpgsqlException>(() => InsertAsync(data));
        Assert.True(TransientErrors.IsConnectionFailure(lost), lost.ToString());
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(1, (await InsertAsync(data)).Value);
        }

        Assert.Equal(3L, await shard2.ScalarAsync<long>("SELECT count(*) FROM restarted_primary"));
    }
}
