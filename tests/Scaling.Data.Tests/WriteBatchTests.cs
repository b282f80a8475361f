using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using Npgsql;
using Scaling.Testing;

namespace Scaling.Data.Tests;

/// <summary><see cref="ReadWriteDataSource.WriteBatchAsync{T}"/>: a write, its commit and its token in one round trip.</summary>
[Collection(ServersCollection.Name)]
public sealed class WriteBatchTests(ServersFixture fixture)
{
    private static readonly ActivitySource TestSource = new("Scaling.Data.Tests.WriteBatch");
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task A_batch_write_is_one_command_execution_and_its_token_is_never_stale_on_a_delayed_replica()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY, note text");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o => o.MaxReplicaLagTime = TimeSpan.FromMinutes(10))));
        await data.CheckReplicasAsync();

        // Npgsql starts one span per command execution (one batch is one execution; BEGIN and COMMIT sent by a
        // transaction are not executions of their own): counted under this test's own root span only.
        using var executions = new NpgsqlExecutions();
        await _servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.FromSeconds(2));
        var stale = 0;
        try
        {
            for (var id = 1; id <= 6; id++)
            {
                using var root = NpgsqlExecutions.StartRoot();
                var written = await data.WriteBatchAsync(
                    batch =>
                    {
                        batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {table} (id) VALUES ($1)") { Parameters = { new() { Value = id } } });
                        batch.BatchCommands.Add(new NpgsqlBatchCommand($"UPDATE {table} SET note = 'batched' WHERE id = $1") { Parameters = { new() { Value = id } } });
                    },
                    commands => commands.Sum(c => c.RecordsAffected));
                Assert.Equal(2, written.Value);
                Assert.Equal(1, executions.Under(root));
                var token = Assert.NotNull(written.Token);
                var note = await data.ReadAsync((c, ct) => NoteAsync(c, table, id, ct), token);
                stale += note == "batched" ? 0 : 1;
            }

            // The same write through WriteAsync: the write's command and the token's query, two executions.
            using (var root = NpgsqlExecutions.StartRoot())
            {
                await data.WriteAsync(async (tx, ct) =>
                {
                    await using var insert = new NpgsqlCommand($"INSERT INTO {table} (id) VALUES (100)", tx.Connection, tx);
                    return await insert.ExecuteNonQueryAsync(ct);
                });
                Assert.Equal(2, executions.Under(root));
            }
        }
        finally
        {
            await _servers.Shard1Replica.SetReplayDelayAsync(TimeSpan.Zero);
        }

        Assert.Equal(0, stale);
        Assert.Equal(7L, await _servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table}"));
    }

    [Fact]
    public async Task A_failing_command_rolls_back_the_whole_batch_is_not_retried_and_leaves_the_pooled_connection_clean()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o => o.ConfigureDataSource = (b, _) => b.ConnectionStringBuilder.MaxPoolSize = 1)));
        var builds = 0;
        var error = await Assert.ThrowsAsync<PostgresException>(() => data.WriteBatchAsync(
            batch =>
            {
                builds++;
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {table} VALUES (1)"));
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {table} VALUES (2), (2)"));
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {table} VALUES (3)"));
            },
            _ => 0));
        Assert.Equal(PostgresErrorCodes.UniqueViolation, error.SqlState);
        Assert.Equal(1, builds);
        Assert.Equal(0L, await _servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table}"));

        // The pool's one connection is back in use: not left inside the failed transaction.
        var next = await data.WriteBatchAsync(
            batch => batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {table} VALUES (4)")),
            commands => commands[0].RecordsAffected);
        Assert.Equal(1, next.Value);
        Assert.Equal(1L, await _servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table}"));
    }

    [Fact]
    public async Task A_deadlock_between_two_batches_is_retried_and_both_land_exactly_once()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int PRIMARY KEY, n int NOT NULL");
        await _servers.Shard1Primary.ExecuteAsync($"INSERT INTO {table} VALUES (1, 0), (2, 0)");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));
        using var metrics = new DataMetricsCollector(data.Name);
        var builds = 0;

        // Each batch locks one row, waits, then the other: in opposite orders they deadlock, PostgreSQL aborts one
        // (40P01), and the data source runs it again.
        Task<WriteResult<int>> Increment(int first, int second) => data.WriteBatchAsync(
            batch =>
            {
                Interlocked.Increment(ref builds);
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"UPDATE {table} SET n = n + 1 WHERE id = {first}"));
                batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT pg_sleep(0.3)"));
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"UPDATE {table} SET n = n + 1 WHERE id = {second}"));
            },
            commands => commands[0].RecordsAffected + commands[2].RecordsAffected);

        var results = await Task.WhenAll(Increment(1, 2), Increment(2, 1));
        Assert.All(results, r => Assert.Equal(2, r.Value));
        Assert.Equal(3, builds);
        Assert.Equal(1, metrics.Sum("scaling.data.retries", "operation", "write"));
        Assert.Equal(2, await _servers.Shard1Primary.ScalarAsync<int>($"SELECT n FROM {table} WHERE id = 1"));
        Assert.Equal(2, await _servers.Shard1Primary.ScalarAsync<int>($"SELECT n FROM {table} WHERE id = 2"));
    }

    [Fact]
    public async Task A_returning_batch_reads_its_rows_in_one_execution_and_a_failure_after_the_read_commits_nothing()
    {
        var table = await DataTestKit.CreateReplicatedTableAsync(_servers, "id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text NOT NULL");
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers, o => o.ConfigureDataSource = (b, _) => b.ConnectionStringBuilder.MaxPoolSize = 1)));
        using var executions = new NpgsqlExecutions();

        // Two commands: the rows each returns, read in order; the write, its commit and its token, one execution.
        WriteResult<(int[] Ids, long Count)> written;
        using (var root = NpgsqlExecutions.StartRoot())
        {
            written = await data.WriteBatchReturningAsync(
                batch =>
                {
                    batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {table} (note) VALUES ('a'), ('b') RETURNING id"));
                    batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT count(*) FROM {table}"));
                },
                async (reader, ct) =>
                {
                    var ids = new List<int>();
                    while (await reader.ReadAsync(ct))
                    {
                        ids.Add(reader.GetInt32(0));
                    }

                    Assert.True(await reader.NextResultAsync(ct));
                    Assert.True(await reader.ReadAsync(ct));
                    return (ids.ToArray(), reader.GetInt64(0));
                });
            Assert.Equal(1, executions.Under(root));
        }

        Assert.Equal(2, written.Value.Ids.Length);
        Assert.Equal(2L, written.Value.Count); // the second command saw the first one's rows: one transaction
        var token = Assert.NotNull(written.Token);
        Assert.Equal(2L, await data.ReadAsync(async (c, ct) => (long)(await new NpgsqlCommand($"SELECT count(*) FROM {table} WHERE id = ANY($1)", c) { Parameters = { new() { Value = written.Value.Ids } } }.ExecuteScalarAsync(ct))!, token));

        // A command after the rows were read fails: the read's value is never handed back, and nothing is committed.
        var read = 0;
        var error = await Assert.ThrowsAsync<PostgresException>(() => data.WriteBatchReturningAsync(
            batch =>
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {table} (note) VALUES ('c') RETURNING id"));
                batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT 1 / 0"));
            },
            async (reader, ct) =>
            {
                Assert.True(await reader.ReadAsync(ct));
                read++;
                return reader.GetInt32(0);
            }));
        Assert.Equal(PostgresErrorCodes.DivisionByZero, error.SqlState);
        Assert.Equal(1, read);
        Assert.Equal(2L, await _servers.Shard1Primary.ScalarAsync<long>($"SELECT count(*) FROM {table}"));

        // The pool's one connection is clean again.
        var next = await data.WriteBatchReturningAsync(
            batch => batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {table} (note) VALUES ('d') RETURNING note")),
            async (reader, ct) => await reader.ReadAsync(ct) ? reader.GetString(0) : null);
        Assert.Equal("d", next.Value);
    }

    [Fact]
    public async Task A_build_that_adds_no_command_is_refused_with_a_clear_message()
    {
        await using var data = new ReadWriteDataSource(Options.Create(DataTestKit.Shard1(_servers)));
        var error = await Assert.ThrowsAsync<ArgumentException>(() => data.WriteBatchAsync(_ => { }, _ => 0));
        Assert.Equal("build", error.ParamName);
        Assert.Contains("no commands", error.Message, StringComparison.Ordinal);
        var returning = await Assert.ThrowsAsync<ArgumentException>(() => data.WriteBatchReturningAsync(_ => { }, (_, _) => Task.FromResult(0)));
        Assert.Equal("build", returning.ParamName);
    }

    private static async Task<string?> NoteAsync(NpgsqlConnection connection, string table, int id, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"SELECT note FROM {table} WHERE id = $1", connection) { Parameters = { new() { Value = id } } };
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    /// <summary>Counts Npgsql's command spans, by the root span of this test they ran under.</summary>
    private sealed class NpgsqlExecutions : IDisposable
    {
        private readonly ConcurrentBag<Activity> _commands = [];
        private readonly ActivityListener _listener;

        public NpgsqlExecutions()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = s => s.Name is "Npgsql" || s == TestSource || s.Name.StartsWith("Scaling.", StringComparison.Ordinal),
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = a =>
                {
                    if (a.Source.Name == "Npgsql" && !a.DisplayName.StartsWith("CONNECT", StringComparison.Ordinal))
                    {
                        _commands.Add(a);
                    }
                },
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public static Activity StartRoot() => TestSource.StartActivity("write")!;

        public int Under(Activity root) => _commands.Count(a => a.TraceId == root.TraceId);

        public void Dispose() => _listener.Dispose();
    }
}
