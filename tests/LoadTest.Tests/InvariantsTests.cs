using Npgsql;
using Scaling.LoadTest;
using Scaling.Testing;

namespace LoadTest.Tests;

/// <summary>
/// The load test's invariant checks against a real PostgreSQL database holding the columns they read (the same names
/// and types as BookingHost's schema; the CI smoke run checks them against the real schema): clean data passes, and
/// each kind of breakage is caught and counted.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class InvariantsTests(ServersFixture fixture) : IAsyncLifetime
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS bookings (
            tenant_id text NOT NULL, id uuid NOT NULL, resource_id uuid NOT NULL, starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL, status text NOT NULL, notes text, created_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE IF NOT EXISTS queue_counters (tenant_id text, location text, day date, last_number int, PRIMARY KEY (tenant_id, location, day));
        CREATE TABLE IF NOT EXISTS queue_tokens (tenant_id text, location text, day date, number int);
        CREATE TABLE IF NOT EXISTS reminder_jobs (
            tenant_id text, id uuid, booking_id uuid, kind text, status text, next_attempt_at timestamptz);
        CREATE TABLE IF NOT EXISTS reminder_deliveries (tenant_id text, id uuid, job_id uuid);
        """;

    private static readonly DateOnly Today = DateOnly.FromDateTime(DateTime.UtcNow);

    private readonly string _tenant = "t-" + Guid.NewGuid().ToString("N")[..8];
    private readonly Guid _resource = Guid.NewGuid();
    private string _connectionString = string.Empty;

    public async Task InitializeAsync()
    {
        var server = fixture.Servers.Shard2Primary;
        const string Database = "loadtest_invariants";
        if (await server.ScalarAsync<long>($"SELECT count(*) FROM pg_database WHERE datname = '{Database}'") == 0)
        {
            await server.CreateDatabaseAsync(Database);
        }

        _connectionString = server.ConnectionString(Database);
        await ExecuteAsync(Schema);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Clean_data_holds_every_invariant()
    {
        var booking = await InsertBookingAsync(TimeSpan.FromDays(2), withReminders: true);
        await InsertBookingAsync(TimeSpan.FromDays(2) + TimeSpan.FromMinutes(30), withReminders: true); // adjacent, not overlapping
        await InsertTokensAsync(1, 2, 3);

        var results = await CheckAsync([booking], [Token(1), Token(3)]);

        Assert.All(results, r => Assert.True(r.Holds, $"{r.Name}: {r.Violations} ({r.Detail})"));
        Assert.Equal(2, results.Single(r => r.Name.StartsWith("no overlapping", StringComparison.Ordinal)).Checked);
    }

    [Fact]
    public async Task Overlapping_active_bookings_are_caught_but_a_cancelled_one_is_not_an_overlap()
    {
        await InsertBookingAsync(TimeSpan.FromDays(3), withReminders: true);
        await InsertBookingAsync(TimeSpan.FromDays(3) + TimeSpan.FromMinutes(15), withReminders: true);
        await InsertBookingAsync(TimeSpan.FromDays(3) + TimeSpan.FromMinutes(10), withReminders: false, status: "cancelled");

        var results = await CheckAsync([], []);

        var overlap = results.Single(r => r.Name.StartsWith("no overlapping", StringComparison.Ordinal));
        Assert.Equal(1, overlap.Violations);
        Assert.False(overlap.Holds);
    }

    [Fact]
    public async Task A_lost_or_doubled_booking_and_a_request_that_wrote_twice_are_caught()
    {
        var kept = await InsertBookingAsync(TimeSpan.FromDays(4), withReminders: true);
        var lost = kept with { Id = Guid.NewGuid(), Notes = "lt:lost" };
        var doubled = await InsertBookingAsync(TimeSpan.FromDays(5), withReminders: true, notes: "lt:twice");
        await InsertBookingAsync(TimeSpan.FromDays(6), withReminders: true, notes: "lt:twice", id: doubled.Id);

        var results = await CheckAsync([kept, lost, doubled], []);

        var once = results.Single(r => r.Name.StartsWith("every 201 booking", StringComparison.Ordinal));
        Assert.Equal(2, once.Violations);
        Assert.Contains("1 lost, 1 duplicated", once.Detail, StringComparison.Ordinal);
        Assert.Equal(1, results.Single(r => r.Name.StartsWith("no booking request wrote twice", StringComparison.Ordinal)).Violations);
    }

    [Fact]
    public async Task A_gap_a_repeat_or_a_missing_acknowledged_queue_token_is_caught()
    {
        await InsertTokensAsync(1, 2, 4);
        await InsertTokensAsync([1, 1], "desk-2");

        var results = await CheckAsync([], [Token(1), Token(3)]);

        Assert.Equal(2, results.Single(r => r.Name.StartsWith("queue numbers", StringComparison.Ordinal)).Violations);
        Assert.Equal(1, results.Single(r => r.Name.StartsWith("every 201 queue token", StringComparison.Ordinal)).Violations);
    }

    [Fact]
    public async Task A_missing_reminder_job_or_a_sent_job_without_delivery_is_caught()
    {
        await InsertBookingAsync(TimeSpan.FromDays(2), withReminders: false);
        var booking = await InsertBookingAsync(TimeSpan.FromDays(3), withReminders: true);
        await ExecuteAsync($"UPDATE reminder_jobs SET status = 'sent' WHERE tenant_id = '{_tenant}' AND booking_id = '{booking.Id}' AND kind = '24h'");

        var results = await CheckAsync([], []);

        var reminders = results.Single(r => r.Name.StartsWith("no reminder job lost", StringComparison.Ordinal));
        Assert.Equal(3, reminders.Violations); // 2 missing for the first booking, 1 sent without a delivery
        Assert.Contains("4 jobs expected, 2 missing", reminders.Detail, StringComparison.Ordinal);
    }

    private Task<IReadOnlyList<InvariantResult>> CheckAsync(AcknowledgedBooking[] bookings, AcknowledgedToken[] tokens)
        => Invariants.CheckAsync([_connectionString], bookings, tokens, [_tenant], CancellationToken.None);

    private AcknowledgedToken Token(int number) => new(_tenant, "desk-1", Today, number);

    private async Task<AcknowledgedBooking> InsertBookingAsync(TimeSpan ahead, bool withReminders, string status = "confirmed", string? notes = null, Guid? id = null)
    {
        var booking = new AcknowledgedBooking(_tenant, id ?? Guid.NewGuid(), DateTimeOffset.UtcNow.Date.AddDays(1) + ahead, notes ?? "lt:" + Guid.NewGuid().ToString("N"), null);
        await ExecuteAsync(
            $"INSERT INTO bookings (tenant_id, id, resource_id, starts_at, ends_at, status, notes) VALUES ('{_tenant}', '{booking.Id}', '{_resource}', '{booking.StartsAt:O}', '{booking.StartsAt.AddMinutes(30):O}', '{status}', '{booking.Notes}')");
        if (withReminders)
        {
            await ExecuteAsync($"""
                INSERT INTO reminder_jobs (tenant_id, id, booking_id, kind, status, next_attempt_at)
                VALUES ('{_tenant}', gen_random_uuid(), '{booking.Id}', '24h', 'pending', '{booking.StartsAt.AddDays(-1):O}'),
                       ('{_tenant}', gen_random_uuid(), '{booking.Id}', '1h', 'pending', '{booking.StartsAt.AddHours(-1):O}')
                """);
        }

        return booking;
    }

    private async Task InsertTokensAsync(int[] numbers, string location)
    {
        foreach (var number in numbers)
        {
            await ExecuteAsync($"INSERT INTO queue_tokens VALUES ('{_tenant}', '{location}', '{Today:yyyy-MM-dd}', {number})");
        }

        await ExecuteAsync($"INSERT INTO queue_counters VALUES ('{_tenant}', '{location}', '{Today:yyyy-MM-dd}', {numbers.Max()})");
    }

    private Task InsertTokensAsync(params int[] numbers) => InsertTokensAsync(numbers, "desk-1");

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
