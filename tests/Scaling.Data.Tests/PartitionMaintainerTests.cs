using Npgsql;
using Scaling.Data.Partitions;
using Scaling.Testing;

namespace Scaling.Data.Tests;

[Collection(ServersCollection.Name)]
public sealed class PartitionMaintainerTests(ServersFixture fixture)
{
    private readonly Testing.TestServers _servers = fixture.Servers;

    [Fact]
    public async Task Keeps_monthly_partitions_ahead_idempotently_and_detaches_or_drops_those_past_retention()
    {
        var name = "bookings_" + Guid.NewGuid().ToString("N")[..8];
        var primary = _servers.Shard1Primary;
        await primary.ExecuteAsync($"CREATE TABLE {name} (id bigint, starts_at timestamptz NOT NULL) PARTITION BY RANGE (starts_at)");
        await using var dataSource = NpgsqlDataSource.Create(primary.ConnectionString());
        var clock = new FixedClock(new DateTimeOffset(2026, 11, 15, 12, 0, 0, TimeSpan.Zero));
        var maintainer = new PartitionMaintainer(dataSource, timeProvider: clock);
        var table = new PartitionedTable(name) { MonthsAhead = 2, RetentionMonths = 3 };

        var first = await maintainer.MaintainAsync(table);
        Assert.Equal([$"{name}_p202611", $"{name}_p202612", $"{name}_p202701"], first.Created);
        Assert.Empty(first.Detached);
        var again = await maintainer.MaintainAsync(table);
        Assert.Empty(again.Created);
        Assert.Empty(again.Detached);
        Assert.Equal(3L, await CountPartitionsAsync(name));

        await primary.ExecuteAsync($"INSERT INTO {name} VALUES (1, '2026-12-31 23:59:59+00'), (2, '2026-11-01 00:00:00+00')");
        Assert.Equal(1L, await primary.ScalarAsync<long>($"SELECT count(*) FROM {name}_p202612"));
        var beyond = await Assert.ThrowsAsync<PostgresException>(() => primary.ExecuteAsync($"INSERT INTO {name} VALUES (3, '2027-02-01 00:00:00+00')"));
        Assert.Equal(PostgresErrorCodes.CheckViolation, beyond.SqlState); // no partition for February yet

        // Seven months later with 3 months of retention: Nov, Dec and Jan ended on or before March 1st.
        clock.Now = new DateTimeOffset(2027, 6, 10, 0, 0, 0, TimeSpan.Zero);
        var later = await maintainer.MaintainAsync(table);
        Assert.Equal([$"{name}_p202706", $"{name}_p202707", $"{name}_p202708"], later.Created);
        Assert.Equal([$"{name}_p202611", $"{name}_p202612", $"{name}_p202701"], later.Detached);
        Assert.Empty(later.Dropped);
        Assert.Equal(3L, await CountPartitionsAsync(name));
        Assert.Equal(1L, await primary.ScalarAsync<long>($"SELECT count(*) FROM {name}_p202612")); // detached, not lost
        Assert.Equal(0L, await primary.ScalarAsync<long>($"SELECT count(*) FROM {name}"));
        Assert.Empty((await maintainer.MaintainAsync(table)).Detached);

        clock.Now = new DateTimeOffset(2027, 12, 1, 0, 0, 0, TimeSpan.Zero);
        var dropping = new PartitionedTable(name) { MonthsAhead = 0, RetentionMonths = 1, DropDetached = true };
        var dropped = await maintainer.MaintainAsync(dropping);
        Assert.Equal([$"{name}_p202712"], dropped.Created);
        Assert.Equal([$"{name}_p202706", $"{name}_p202707", $"{name}_p202708"], dropped.Dropped);
        Assert.Equal(0L, await primary.ScalarAsync<long>($"SELECT count(*) FROM pg_tables WHERE tablename = '{name}_p202707'"));
    }

    [Fact]
    public async Task Two_maintainers_at_once_create_each_partition_once()
    {
        var name = "events_" + Guid.NewGuid().ToString("N")[..8];
        await _servers.Shard1Primary.ExecuteAsync($"CREATE TABLE {name} (at date NOT NULL) PARTITION BY RANGE (at)");
        await using var dataSource = NpgsqlDataSource.Create(_servers.Shard1Primary.ConnectionString());
        var table = new PartitionedTable("public." + name) { MonthsAhead = 5 };
        var results = await Task.WhenAll(
            new PartitionMaintainer(dataSource).MaintainAsync(table),
            new PartitionMaintainer(dataSource).MaintainAsync(table));
        Assert.Equal(6, results.Sum(r => r.Created.Count));
        Assert.Equal(6L, await CountPartitionsAsync(name));
    }

    [Fact]
    public async Task A_table_that_is_missing_or_not_range_partitioned_by_time_is_a_clear_error()
    {
        var plain = "plain_" + Guid.NewGuid().ToString("N")[..8];
        var byList = "bylist_" + Guid.NewGuid().ToString("N")[..8];
        await _servers.Shard1Primary.ExecuteAsync($"CREATE TABLE {plain} (id int)");
        await _servers.Shard1Primary.ExecuteAsync($"CREATE TABLE {byList} (id int) PARTITION BY LIST (id)");
        await using var dataSource = NpgsqlDataSource.Create(_servers.Shard1Primary.ConnectionString());
        var maintainer = new PartitionMaintainer(dataSource);

        var missing = await Assert.ThrowsAsync<InvalidOperationException>(() => maintainer.MaintainAsync(new PartitionedTable("no_such_table")));
        Assert.Contains("'no_such_table' does not exist or is not a partitioned table", missing.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(() => maintainer.MaintainAsync(new PartitionedTable(plain)));
        var list = await Assert.ThrowsAsync<InvalidOperationException>(() => maintainer.MaintainAsync(new PartitionedTable(byList)));
        Assert.Contains("partitioned by list", list.Message, StringComparison.Ordinal);

        Assert.Throws<ArgumentException>(() => new PartitionedTable("Bookings"));
        Assert.Throws<ArgumentException>(() => new PartitionedTable("a.b.c"));
        Assert.Throws<ArgumentException>(() => new PartitionedTable("x; DROP TABLE y"));
        Assert.Throws<ArgumentException>(() => new PartitionedTable(new string('a', 56)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PartitionedTable("t") { MonthsAhead = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new PartitionedTable("t") { RetentionMonths = 0 });
    }

    private Task<long> CountPartitionsAsync(string parent) => _servers.Shard1Primary.ScalarAsync<long>(
        $"SELECT count(*) FROM pg_inherits WHERE inhparent = '{parent}'::regclass");

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
