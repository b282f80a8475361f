using Npgsql;
using Scaling.Tenancy.Migrations;
using Scaling.Testing;

namespace Scaling.Tenancy.Tests.Migrations;

[Collection(ServersCollection.Name)]
public sealed class MigrationRunnerTests(ServersFixture fixture)
{
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task Applies_in_version_order_to_metadata_and_every_shard_respecting_scopes()
    {
        await using var kit = new MigrationTestKit(_servers);
        var (common, bookings, tenants) = (kit.T("common"), kit.T("bookings"), kit.T("tenants"));
        SqlMigration[] migrations =
        [
            // Given out of order: version 4 alters the table version 2 creates.
            new(4, "add_bookings_note", MigrationScope.Shards, $"ALTER TABLE {bookings} ADD COLUMN note text; INSERT INTO {bookings} (id, note) VALUES (1, 'x');"),
            new(1, "create_common", MigrationScope.All, $"CREATE TABLE {common} (id int PRIMARY KEY);"),
            new(3, "create_tenants", MigrationScope.Metadata, $"CREATE TABLE {tenants} (id text PRIMARY KEY);"),
            new(2, "create_bookings", MigrationScope.Shards, $"CREATE TABLE {bookings} (id int PRIMARY KEY);"),
        ];

        var report = await kit.Runner().RunAsync(kit.All, migrations);

        Assert.True(report.Succeeded, string.Join("; ", report.Failed.Select(f => f.Error!.Message)));
        Assert.Equal(["metadata", "shard-1", "shard-2"], report.Targets.Select(t => t.Name));
        Assert.Equal([1L, 3L], report["metadata"].Applied.Select(a => a.Version));
        Assert.Equal(MigrationTargetKind.Metadata, report["metadata"].Kind);
        Assert.Equal(0L, report["metadata"].VersionBefore);
        Assert.Equal(3L, report["metadata"].VersionAfter);
        foreach (var shard in new[] { "shard-1", "shard-2" })
        {
            Assert.Equal([1L, 2L, 4L], report[shard].Applied.Select(a => a.Version));
            Assert.Equal("create_bookings", report[shard].Applied[1].Name);
            Assert.All(report[shard].Applied, a => Assert.True(a.Transactional && a.Duration >= TimeSpan.Zero));
            Assert.Equal(4L, report[shard].VersionAfter);
            Assert.True(await kit.TableExistsAsync(shard, common));
            Assert.True(await kit.TableExistsAsync(shard, bookings));
            Assert.False(await kit.TableExistsAsync(shard, tenants));
            Assert.Equal(1L, await kit.CountAsync(shard, bookings));
            Assert.Equal([1L, 2L, 4L], (await kit.HistoryAsync(shard)).AsEnumerable());
        }

        Assert.True(await kit.TableExistsAsync("metadata", common));
        Assert.True(await kit.TableExistsAsync("metadata", tenants));
        Assert.False(await kit.TableExistsAsync("metadata", bookings));
        Assert.Equal([1L, 3L], (await kit.HistoryAsync("metadata")).AsEnumerable());

        // The history row carries the name, the checksum and a duration.
        var row = await _servers.Shard1Primary.ScalarAsync<string>(
            $"SELECT name || '|' || checksum || '|' || transactional || '|' || (duration_ms >= 0) FROM scaling_tenancy.{kit.HistoryTable} WHERE version = 2");
        Assert.Equal($"create_bookings|{migrations[3].Checksum}|true|true", row);
    }

    [Fact]
    public async Task Running_again_applies_nothing()
    {
        await using var kit = new MigrationTestKit(_servers);
        SqlMigration[] migrations =
        [
            new(1, "create_a", MigrationScope.All, $"CREATE TABLE {kit.T("a")} (id int); INSERT INTO {kit.T("a")} VALUES (1);"),
            new(2, "insert_a", MigrationScope.Shards, $"INSERT INTO {kit.T("a")} VALUES (2);"),
        ];
        var runner = kit.Runner();
        Assert.True((await runner.RunAsync(kit.All, migrations)).Succeeded);

        var again = await runner.RunAsync(kit.All, migrations);

        Assert.True(again.Succeeded);
        Assert.All(again.Targets, t => Assert.Empty(t.Applied));
        Assert.All(again.Targets, t => Assert.Equal(t.VersionBefore, t.VersionAfter));
        Assert.Equal(2L, again["shard-1"].VersionAfter);
        Assert.Equal(1L, again["metadata"].VersionAfter);
        Assert.Equal(2L, await kit.CountAsync("shard-2", kit.T("a")));
        Assert.Equal(1L, await kit.CountAsync("metadata", kit.T("a")));
    }

    [Fact]
    public async Task Two_runners_at_once_apply_each_migration_exactly_once()
    {
        await using var kit = new MigrationTestKit(_servers);
        var table = kit.T("once");
        SqlMigration[] migrations =
        [
            // Not idempotent: a second application would fail (CREATE TABLE) or double the rows (INSERT).
            new(1, "create_once", MigrationScope.All, $"CREATE TABLE {table} (id int); INSERT INTO {table} VALUES (1); SELECT pg_sleep(0.3);"),
            new(2, "insert_once", MigrationScope.All, $"INSERT INTO {table} VALUES (2); SELECT pg_sleep(0.2);"),
            new(3, "insert_shards", MigrationScope.Shards, $"INSERT INTO {table} VALUES (3);"),
        ];

        var reports = await Task.WhenAll(
            Task.Run(() => kit.Runner().RunAsync(kit.All, migrations)),
            Task.Run(() => kit.Runner().RunAsync(kit.SecondSet(), migrations)));

        Assert.All(reports, r => Assert.True(r.Succeeded, string.Join("; ", r.Failed.Select(f => f.Error!.Message))));
        foreach (var (target, expected) in new[] { ("metadata", 2L), ("shard-1", 3L), ("shard-2", 3L) })
        {
            var results = reports.Select(r => r[target]).OrderByDescending(r => r.Applied.Count).ToArray();
            Assert.Equal(expected, results[0].Applied.Count);   // one runner applied everything
            Assert.Empty(results[1].Applied);                   // the other waited for the lock, then found it all applied
            Assert.Equal(expected, results[1].VersionBefore);   // (the latest version equals the count here)
            Assert.Equal(expected, await kit.CountAsync(target, table));
            Assert.Equal(expected, (await kit.HistoryAsync(target)).Length);
        }
    }

    [Fact]
    public async Task A_runner_that_cannot_get_the_lock_in_time_reports_that_another_runner_holds_it()
    {
        await using var kit = new MigrationTestKit(_servers);
        SqlMigration[] migrations = [new(1, "create_l", MigrationScope.Shards, $"CREATE TABLE {kit.T("l")} (id int);")];
        await using (var holder = new NpgsqlConnection(_servers.Shard1Primary.ConnectionString(pooling: false)))
        {
            await holder.OpenAsync();
            await using (var take = new NpgsqlCommand("SELECT pg_advisory_lock($1)", holder) { Parameters = { new() { Value = MigrationHistory.ComputeLockKey("scaling_tenancy", kit.HistoryTable) } } })
            {
                await take.ExecuteNonQueryAsync();
            }

            var report = await kit.Runner(o => o.LockTimeout = TimeSpan.FromMilliseconds(500)).RunAsync([kit.Shard1, kit.Shard2], migrations);

            Assert.False(report.Succeeded);
            var error = Assert.IsType<MigrationException>(report["shard-1"].Error);
            Assert.Equal(MigrationFailureReason.LockTimeout, error.Reason);
            Assert.Equal("shard-1", error.TargetName);
            Assert.Contains("Another runner holds the migration lock on target shard-1", error.Message, StringComparison.Ordinal);
            Assert.Null(report["shard-1"].VersionAfter);
            Assert.True(report["shard-2"].Succeeded); // the lock is per target database
            Assert.False(await kit.TableExistsAsync("shard-1", kit.T("l")));
        }

        var later = await kit.Runner().RunAsync([kit.Shard1, kit.Shard2], migrations);
        Assert.True(later.Succeeded);
        Assert.Equal([1L], later["shard-1"].Applied.Select(a => a.Version));
        Assert.Empty(later["shard-2"].Applied);
    }

    [Fact]
    public async Task A_stopped_shard_fails_alone_and_a_later_run_brings_it_to_the_latest_version()
    {
        await using var kit = new MigrationTestKit(_servers);
        SqlMigration[] migrations =
        [
            new(1, "create_s", MigrationScope.All, $"CREATE TABLE {kit.T("s")} (id int);"),
            new(2, "insert_s", MigrationScope.Shards, $"INSERT INTO {kit.T("s")} VALUES (2);"),
        ];
        var shard2 = _servers.Shard2Primary;
        MigrationReport report;
        MigrationStatusReport status;
        try
        {
            await shard2.StopAsync();
            report = await kit.Runner().RunAsync(kit.All, migrations);
            status = await kit.Runner().GetStatusAsync(kit.All, migrations);
        }
        finally
        {
            await shard2.RestartAsync();
        }

        Assert.False(report.Succeeded);
        Assert.Equal(["shard-2"], report.Failed.Select(f => f.Name));
        Assert.Equal(MigrationFailureReason.Unreachable, report["shard-2"].Error!.Reason);
        Assert.Contains("shard-2 could not be reached", report["shard-2"].Error!.Message, StringComparison.Ordinal);
        Assert.Null(report["shard-2"].VersionBefore);
        Assert.Equal(2L, report["shard-1"].VersionAfter);
        Assert.Equal(1L, report["metadata"].VersionAfter);

        Assert.False(status["shard-2"].Reachable);
        Assert.NotNull(status["shard-2"].Error);
        Assert.Null(status["shard-2"].CurrentVersion);
        Assert.True(status["shard-1"].IsUpToDate);
        Assert.False(status.AllUpToDate);

        var rerun = await kit.Runner().RunAsync(kit.All, migrations);
        Assert.True(rerun.Succeeded);
        Assert.Equal([1L, 2L], rerun["shard-2"].Applied.Select(a => a.Version));
        Assert.Empty(rerun["shard-1"].Applied);
        Assert.Empty(rerun["metadata"].Applied);
        Assert.Equal(1L, await kit.CountAsync("shard-2", kit.T("s")));
        Assert.True((await kit.Runner().GetStatusAsync(kit.All, migrations)).AllUpToDate);
    }

    [Fact]
    public async Task A_failing_migration_on_one_target_is_rolled_back_there_while_the_others_proceed()
    {
        await using var kit = new MigrationTestKit(_servers);
        var (a, b, conflict, c) = (kit.T("a"), kit.T("b"), kit.T("conflict"), kit.T("c"));
        await _servers.Shard2Primary.ExecuteAsync($"CREATE TABLE {conflict} (x int)"); // only shard 2 already has it
        SqlMigration[] migrations =
        [
            new(1, "create_a", MigrationScope.All, $"CREATE TABLE {a} (id int);"),
            new(2, "create_b_and_conflict", MigrationScope.Shards, $"CREATE TABLE {b} (id int); INSERT INTO {b} VALUES (1); CREATE TABLE {conflict} (id int);"),
            new(3, "create_c", MigrationScope.Shards, $"CREATE TABLE {c} (id int);"),
        ];

        var report = await kit.Runner().RunAsync(kit.All, migrations);

        Assert.Equal(["shard-2"], report.Failed.Select(f => f.Name));
        var failed = report["shard-2"];
        Assert.Equal([1L], failed.Applied.Select(m => m.Version));
        Assert.Equal(0L, failed.VersionBefore);
        Assert.Equal(1L, failed.VersionAfter);
        var error = failed.Error!;
        Assert.Equal(MigrationFailureReason.MigrationFailed, error.Reason);
        Assert.Equal(2L, error.Version);
        Assert.Equal("create_b_and_conflict", error.MigrationName);
        Assert.Equal(PostgresErrorCodes.DuplicateTable, Assert.IsType<PostgresException>(error.InnerException).SqlState);
        Assert.Contains("Migration 2 'create_b_and_conflict' failed on target shard-2", error.Message, StringComparison.Ordinal);
        Assert.Contains("stays at version 1", error.Message, StringComparison.Ordinal);

        // Nothing of migration 2 is left half-applied on shard 2, and migration 3 did not run there.
        Assert.False(await kit.TableExistsAsync("shard-2", b));
        Assert.False(await kit.TableExistsAsync("shard-2", c));
        Assert.Equal([1L], (await kit.HistoryAsync("shard-2")).AsEnumerable());
        Assert.Equal(3L, report["shard-1"].VersionAfter);
        Assert.True(await kit.TableExistsAsync("shard-1", c));
        Assert.Equal(1L, report["metadata"].VersionAfter);

        // Fix the conflict: the next run resumes shard 2 at migration 2.
        await _servers.Shard2Primary.ExecuteAsync($"DROP TABLE {conflict}");
        var rerun = await kit.Runner().RunAsync(kit.All, migrations);
        Assert.True(rerun.Succeeded);
        Assert.Equal([2L, 3L], rerun["shard-2"].Applied.Select(m => m.Version));
        Assert.Equal(1L, rerun["shard-2"].VersionBefore);
        Assert.Empty(rerun["shard-1"].Applied);
        Assert.Equal(1L, await kit.CountAsync("shard-2", b));
    }

    [Fact]
    public async Task A_changed_applied_script_fails_the_target_naming_the_migration_and_applies_nothing()
    {
        await using var kit = new MigrationTestKit(_servers);
        var original = new SqlMigration(2, "create_x", MigrationScope.Shards, $"CREATE TABLE {kit.T("x")} (id int);\n");
        SqlMigration[] first = [new(1, "create_w", MigrationScope.Shards, $"CREATE TABLE {kit.T("w")} (id int);"), original];
        Assert.True((await kit.Runner().RunAsync([kit.Shard1], first)).Succeeded);

        // Other line endings and trailing whitespace are not a change.
        var cosmetic = new SqlMigration(2, "create_x", MigrationScope.Shards, original.Sql.Replace("\n", "  \r\n", StringComparison.Ordinal) + "\r\n");
        var unchanged = await kit.Runner().RunAsync([kit.Shard1], [first[0], cosmetic]);
        Assert.True(unchanged.Succeeded);

        var edited = new SqlMigration(2, "create_x", MigrationScope.Shards, $"CREATE TABLE {kit.T("x")} (id bigint);");
        var next = new SqlMigration(3, "create_y", MigrationScope.Shards, $"CREATE TABLE {kit.T("y")} (id int);");
        SqlMigration[] changed = [first[0], edited, next];

        var report = await kit.Runner().RunAsync([kit.Shard1], changed);

        var error = report["shard-1"].Error!;
        Assert.Equal(MigrationFailureReason.ChecksumMismatch, error.Reason);
        Assert.Equal(2L, error.Version);
        Assert.Equal("create_x", error.MigrationName);
        Assert.Contains("2 'create_x' was applied with checksum", error.Message, StringComparison.Ordinal);
        Assert.Empty(report["shard-1"].Applied);
        Assert.Equal(2L, report["shard-1"].VersionAfter);
        Assert.False(await kit.TableExistsAsync("shard-1", kit.T("y")));

        var status = await kit.Runner().GetStatusAsync([kit.Shard1], changed);
        var mismatch = Assert.Single(status["shard-1"].ChecksumMismatches);
        Assert.Equal(new ChecksumMismatch(2, "create_x", original.Checksum, edited.Checksum), mismatch);
        Assert.False(status["shard-1"].IsUpToDate);
    }

    [Fact]
    public async Task Status_reports_versions_pending_and_unknown_migrations_without_changing_anything()
    {
        await using var kit = new MigrationTestKit(_servers);
        SqlMigration[] migrations =
        [
            new(1, "create_p", MigrationScope.All, $"CREATE TABLE {kit.T("p")} (id int);"),
            new(2, "meta_only", MigrationScope.Metadata, $"INSERT INTO {kit.T("p")} VALUES (2);"),
            new(3, "shards_only", MigrationScope.Shards, $"INSERT INTO {kit.T("p")} VALUES (3);"),
        ];
        var runner = kit.Runner();

        var before = await runner.GetStatusAsync(kit.All, migrations);
        Assert.All(before.Targets, t => Assert.True(t.Reachable && t.CurrentVersion == 0 && t.AppliedCount == 0 && t.Error is null));
        Assert.Equal([1L, 2L], before["metadata"].Pending.Select(m => m.Version));
        Assert.Equal([1L, 3L], before["shard-2"].Pending.Select(m => m.Version));
        Assert.False(before.AllUpToDate);
        Assert.False(await kit.TableExistsAsync("shard-1", $"scaling_tenancy.{kit.HistoryTable}")); // status creates nothing

        Assert.True((await runner.RunAsync(kit.All, migrations)).Succeeded);
        var after = await runner.GetStatusAsync(kit.All, migrations);
        Assert.True(after.AllUpToDate);
        Assert.Equal(2L, after["metadata"].CurrentVersion);
        Assert.Equal(3L, after["shard-1"].CurrentVersion);
        Assert.Equal(2, after["shard-1"].AppliedCount);

        var newer = migrations.Append(new SqlMigration(4, "shards_next", MigrationScope.Shards, $"INSERT INTO {kit.T("p")} VALUES (4);")).ToArray();
        var withNewer = await runner.GetStatusAsync(kit.All, newer);
        Assert.Equal([4L], withNewer["shard-2"].Pending.Select(m => m.Version));
        Assert.True(withNewer["metadata"].IsUpToDate);
        Assert.True((await runner.RunAsync(kit.All, newer)).Succeeded);

        // An older release of the set (without 4): reported, warned about, not a failure, nothing undone.
        var older = migrations;
        var olderStatus = await runner.GetStatusAsync(kit.All, older);
        Assert.Equal([4L], olderStatus["shard-1"].UnknownAppliedVersions);
        Assert.Empty(olderStatus["metadata"].UnknownAppliedVersions);
        var olderRun = await runner.RunAsync(kit.All, older);
        Assert.True(olderRun.Succeeded);
        Assert.Equal([4L], olderRun["shard-2"].UnknownAppliedVersions);
        Assert.Equal(4L, olderRun["shard-2"].VersionAfter);
        Assert.Equal(2L, await kit.CountAsync("shard-2", kit.T("p"))); // rows 3 and 4; the metadata-only 2 never ran on a shard
    }

    [Fact]
    public async Task An_older_migration_added_after_newer_ones_were_applied_is_refused_unless_allowed()
    {
        await using var kit = new MigrationTestKit(_servers);
        var one = new SqlMigration(1, "create_o", MigrationScope.Shards, $"CREATE TABLE {kit.T("o")} (id int);");
        var three = new SqlMigration(3, "insert_three", MigrationScope.Shards, $"INSERT INTO {kit.T("o")} VALUES (3);");
        var two = new SqlMigration(2, "insert_two", MigrationScope.Shards, $"INSERT INTO {kit.T("o")} VALUES (2);");
        Assert.True((await kit.Runner().RunAsync([kit.Shard1], [one, three])).Succeeded);

        var refused = await kit.Runner().RunAsync([kit.Shard1], [one, two, three]);
        var error = refused["shard-1"].Error!;
        Assert.Equal(MigrationFailureReason.OutOfOrder, error.Reason);
        Assert.Equal(2L, error.Version);
        Assert.Contains("is at version 3", error.Message, StringComparison.Ordinal);
        Assert.Equal(1L, await kit.CountAsync("shard-1", kit.T("o")));

        var allowed = await kit.Runner(o => o.AllowOutOfOrder = true).RunAsync([kit.Shard1], [one, two, three]);
        Assert.True(allowed.Succeeded);
        Assert.Equal([2L], allowed["shard-1"].Applied.Select(a => a.Version));
        Assert.Equal(3L, allowed["shard-1"].VersionAfter);
    }

    [Fact]
    public async Task A_no_transaction_migration_can_create_an_index_concurrently()
    {
        await using var kit = new MigrationTestKit(_servers);
        var table = kit.T("n");
        SqlMigration[] migrations =
        [
            new(1, "create_n", MigrationScope.Shards, $"CREATE TABLE {table} (id int); INSERT INTO {table} SELECT generate_series(1, 100);"),
            new(2, "index_n", MigrationScope.Shards, $"-- Builds without blocking writes.\n-- scaling: no-transaction\nCREATE INDEX CONCURRENTLY {table}_id ON {table} (id);"),
        ];
        Assert.False(migrations[1].Transactional);

        var report = await kit.Runner().RunAsync([kit.Shard1], migrations);

        Assert.True(report.Succeeded, string.Join("; ", report.Failed.Select(f => f.Error!.Message)));
        Assert.False(report["shard-1"].Applied[1].Transactional);
        Assert.True(await kit.TableExistsAsync("shard-1", $"{table}_id"));
        Assert.Equal([1L, 2L], (await kit.HistoryAsync("shard-1")).AsEnumerable());

        // The same script inside a transaction is refused by PostgreSQL: the directive is what made it work.
        var inTransaction = new SqlMigration(3, "index_again", MigrationScope.Shards, $"CREATE INDEX CONCURRENTLY {table}_id2 ON {table} (id);");
        var refused = await kit.Runner().RunAsync([kit.Shard1], [.. migrations, inTransaction]);
        Assert.Equal(MigrationFailureReason.MigrationFailed, refused["shard-1"].Error!.Reason);
        Assert.Equal(PostgresErrorCodes.ActiveSqlTransaction, Assert.IsType<PostgresException>(refused["shard-1"].Error!.InnerException).SqlState);
        Assert.Contains("needs its own migration with the '-- scaling: no-transaction' directive", refused["shard-1"].Error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_script_and_its_history_row_commit_together_or_not_at_all()
    {
        await using var kit = new MigrationTestKit(_servers);
        var table = kit.T("h");
        SqlMigration[] migrations =
        [
            new(1, "create_h", MigrationScope.Shards, $"CREATE TABLE {table} (id int);"),

            // The script itself succeeds, but it takes version 2's history row, so recording the migration fails:
            // the script's effects must be rolled back with it.
            new(2, "sneaky", MigrationScope.Shards,
                $"INSERT INTO {table} VALUES (2); INSERT INTO scaling_tenancy.{kit.HistoryTable} (version, name, checksum, transactional, duration_ms) VALUES (2, 'x', 'x', true, 0);"),
        ];

        var report = await kit.Runner().RunAsync([kit.Shard1], migrations);

        Assert.Equal(MigrationFailureReason.MigrationFailed, report["shard-1"].Error!.Reason);
        Assert.Equal(PostgresErrorCodes.UniqueViolation, Assert.IsType<PostgresException>(report["shard-1"].Error!.InnerException).SqlState);
        Assert.Equal(0L, await kit.CountAsync("shard-1", table));
        Assert.Equal([1L], (await kit.HistoryAsync("shard-1")).AsEnumerable());
    }

    [Fact]
    public async Task Cancelling_a_run_rolls_back_the_migration_in_progress_and_releases_the_lock()
    {
        await using var kit = new MigrationTestKit(_servers);
        var table = kit.T("k");
        SqlMigration[] migrations =
        [
            new(1, "create_k", MigrationScope.Shards, $"CREATE TABLE {table} (id int);"),
            new(2, "slow_insert", MigrationScope.Shards, $"INSERT INTO {table} VALUES (2); SELECT pg_sleep(30);"),
        ];
        using var cancellation = new CancellationTokenSource(TimeSpan.FromSeconds(1));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => kit.Runner().RunAsync([kit.Shard1], migrations, cancellation.Token));

        Assert.Equal([1L], (await kit.HistoryAsync("shard-1")).AsEnumerable());
        Assert.Equal(0L, await kit.CountAsync("shard-1", table));
        var quick = kit.Runner(o => o.LockTimeout = TimeSpan.FromSeconds(2));
        var status = await quick.GetStatusAsync([kit.Shard1], migrations);
        Assert.Equal([2L], status["shard-1"].Pending.Select(m => m.Version));
        var next = await quick.RunAsync([kit.Shard1], [migrations[0], new(2, "slow_insert", MigrationScope.Shards, $"INSERT INTO {table} VALUES (2);")]);
        Assert.True(next.Succeeded, string.Join("; ", next.Failed.Select(f => f.Error!.Message))); // the lock was released
        Assert.Equal(1L, await kit.CountAsync("shard-1", table));
    }
}
