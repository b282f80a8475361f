using Microsoft.Extensions.Options;
using Scaling.Tenancy.Migrations;

namespace Scaling.Tenancy.Tests.Migrations;

public sealed class SqlMigrationTests
{
    [Fact]
    public void Checksum_ignores_line_endings_trailing_whitespace_and_a_byte_order_mark_but_nothing_else()
    {
        var lf = SqlMigration.ComputeChecksum("CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n");
        Assert.Matches("^[0-9a-f]{64}$", lf);
        Assert.Equal(lf, SqlMigration.ComputeChecksum("CREATE TABLE a (id int);\r\nINSERT INTO a VALUES (1);"));
        Assert.Equal(lf, SqlMigration.ComputeChecksum("\uFEFFCREATE TABLE a (id int);  \t\rINSERT INTO a VALUES (1);\n\n  \n"));
        Assert.NotEqual(lf, SqlMigration.ComputeChecksum("CREATE TABLE a (id int);\nINSERT INTO a VALUES (2);\n"));
        Assert.NotEqual(lf, SqlMigration.ComputeChecksum("CREATE TABLE a (id int);\n\nINSERT INTO a VALUES (1);\n"));
        Assert.NotEqual(lf, SqlMigration.ComputeChecksum("CREATE  TABLE a (id int);\nINSERT INTO a VALUES (1);\n"));
        Assert.Equal(lf, new SqlMigration(1, "a", MigrationScope.All, "CREATE TABLE a (id int);\r\nINSERT INTO a VALUES (1);\r\n").Checksum);
    }

    [Fact]
    public void The_no_transaction_directive_is_read_from_the_leading_comment_lines_only()
    {
        Assert.True(new SqlMigration(1, "a", MigrationScope.Shards, "CREATE INDEX i ON t (x);").Transactional);
        Assert.False(new SqlMigration(1, "a", MigrationScope.Shards, "-- scaling: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);").Transactional);
        Assert.False(new SqlMigration(1, "a", MigrationScope.Shards, "\n-- Why: no lock on t.\n--scaling: scope=shards, no-transaction\n\nCREATE INDEX CONCURRENTLY i ON t (x);").Transactional);
        Assert.True(new SqlMigration(1, "a", MigrationScope.Shards, "CREATE INDEX i ON t (x);\n-- scaling: no-transaction").Transactional);
    }

    [Fact]
    public void Bad_values_and_unknown_or_conflicting_directives_are_refused_with_the_migration_named()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SqlMigration(0, "a", MigrationScope.All, "SELECT 1"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SqlMigration(-3, "a", MigrationScope.All, "SELECT 1"));
        Assert.Throws<ArgumentException>(() => new SqlMigration(1, " ", MigrationScope.All, "SELECT 1"));
        Assert.Throws<ArgumentException>(() => new SqlMigration(1, "a", MigrationScope.All, " \n "));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SqlMigration(1, "a", (MigrationScope)0, "SELECT 1"));

        var typo = Assert.Throws<ArgumentException>(() => new SqlMigration(7, "idx", MigrationScope.Shards, "-- scaling: no-transactions\nSELECT 1"));
        Assert.Contains("7 'idx'", typo.Message, StringComparison.Ordinal);
        Assert.Contains("'no-transactions'", typo.Message, StringComparison.Ordinal);

        var conflict = Assert.Throws<ArgumentException>(() => new SqlMigration(8, "m", MigrationScope.Shards, "-- scaling: scope=metadata\nSELECT 1"));
        Assert.Contains("declares scope=metadata but is given scope shards", conflict.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_are_validated_with_every_failure_named()
    {
        Assert.Equal("\"scaling_tenancy\".\"schema_migrations\"", new MigrationRunner().HistoryTable);
        var invalid = new MigrationRunnerOptions
        {
            HistorySchema = "Public",
            HistoryTable = "x\"; DROP TABLE t; --",
            LockTimeout = TimeSpan.Zero,
            CommandTimeout = TimeSpan.FromMilliseconds(1500),
            MaxParallelism = 0,
        };

        var e = Assert.Throws<OptionsValidationException>(() => new MigrationRunner(Options.Create(invalid)));

        Assert.Equal(5, e.Failures.Count());
        Assert.Contains(e.Failures, f => f.StartsWith("MigrationRunnerOptions.HistorySchema must be", StringComparison.Ordinal) && f.Contains("'Public'", StringComparison.Ordinal));
        Assert.Contains(e.Failures, f => f.StartsWith("MigrationRunnerOptions.HistoryTable must be", StringComparison.Ordinal));
        Assert.Contains(e.Failures, f => f.StartsWith("MigrationRunnerOptions.LockTimeout", StringComparison.Ordinal));
        Assert.Contains(e.Failures, f => f.StartsWith("MigrationRunnerOptions.CommandTimeout", StringComparison.Ordinal));
        Assert.Contains(e.Failures, f => f.StartsWith("MigrationRunnerOptions.MaxParallelism", StringComparison.Ordinal));
        Assert.True(new MigrationRunnerOptionsValidator().Validate(null, new MigrationRunnerOptions()).Succeeded);
    }

    [Fact]
    public async Task A_run_refuses_duplicate_target_names_and_duplicate_versions_before_touching_any_database()
    {
        await using var dataSource = Npgsql.NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Username=nobody");
        var target = new MigrationTarget("shard-1", MigrationTargetKind.Shard, dataSource);
        SqlMigration[] one = [new(1, "a", MigrationScope.All, "SELECT 1")];
        await Assert.ThrowsAsync<ArgumentException>(() => new MigrationRunner().RunAsync([target, target], one));
        var duplicate = await Assert.ThrowsAsync<MigrationLoadException>(() => new MigrationRunner().RunAsync([target], [one[0], new(1, "b", MigrationScope.Shards, "SELECT 2")]));
        Assert.Contains("Two migrations have version 1", duplicate.Message, StringComparison.Ordinal);
    }
}
