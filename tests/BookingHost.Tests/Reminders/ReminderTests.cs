using System.Collections.Concurrent;
using BookingHost.Reminders;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Scaling.Tenancy;
using Scaling.Testing;

namespace BookingHost.Tests.Reminders;

[Collection(ServersCollection.Name)]
public sealed class ReminderTests(ServersFixture fixture)
{
    private readonly TestServers _servers = fixture.Servers;

    /// <summary>Offsets in seconds: the 24 h reminder is due 3 s before the booking, the 1 h one 1.5 s before.</summary>
    private static Action<IWebHostBuilder> Fast(Action<IWebHostBuilder>? more = null) => b =>
    {
        b.UseSetting("BookingHost:Reminders:DayBefore", "00:00:03");
        b.UseSetting("BookingHost:Reminders:HourBefore", "00:00:01.5");
        b.UseSetting("BookingHost:Reminders:PollInterval", "00:00:00.100");
        more?.Invoke(b);
    };

    [Fact]
    public async Task Jobs_are_delivered_once_when_due_with_two_instances_working_both_shards()
    {
        // Sends take 20 ms and batches are small, so both instances are claiming and sending at the same time.
        var cluster = BookingApp.NewCluster();
        Action<IWebHostBuilder> slow(string name) => Fast(w =>
        {
            w.UseSetting("BookingHost:Reminders:BatchSize", "4");
            w.ConfigureServices(s => s.AddSingleton<IReminderSender>(new SlowSender(name)));
        });
        await using var a = await BookingApp.StartAsync(_servers, cluster, slow("instance-a"));
        await using var b = await BookingApp.StartAsync(_servers, cluster, slow("instance-b"));
        var tenants = new[] { (await a.CreateBusinessAsync("shard-1"), "shard-1"), (await a.CreateBusinessAsync("shard-2"), "shard-2") };
        var startsAt = DateTimeOffset.UtcNow.AddSeconds(3.5);
        foreach (var (tenant, _) in tenants)
        {
            for (var i = 0; i < 10; i++)
            {
                var bookingId = Guid.NewGuid();
                await (i % 2 == 0 ? a : b).Router.WriteAsync(tenant, async (tx, ct) => { await ReminderJobs.EnqueueForBookingAsync(tx, tenant, bookingId, startsAt, ct); return 0; });
            }
        }

        foreach (var (tenant, shard) in tenants)
        {
            await Eventually.TrueAsync(
                async () => await ScalarAsync<long>(a, shard, "SELECT count(*) FROM reminder_jobs WHERE tenant_id = $1 AND status = 'pending'", tenant.Value) == 0,
                TimeSpan.FromSeconds(20),
                $"every job of {tenant} worked");

            Assert.Equal(20L, await ScalarAsync<long>(a, shard, "SELECT count(*) FROM reminder_jobs WHERE tenant_id = $1 AND status = 'sent' AND attempts = 1", tenant.Value));
            Assert.Equal(20L, await ScalarAsync<long>(a, shard, "SELECT count(DISTINCT job_id) FROM reminder_deliveries WHERE tenant_id = $1", tenant.Value));
            Assert.Equal(20L, await ScalarAsync<long>(a, shard, "SELECT count(*) FROM reminder_deliveries WHERE tenant_id = $1", tenant.Value));
            Assert.Equal(10L, await ScalarAsync<long>(a, shard, "SELECT count(*) FROM reminder_jobs WHERE tenant_id = $1 AND kind = '24h'", tenant.Value));

            // Never early: each delivery after its job's due time (the 24h one 3 s and the 1h one 1.5 s before the start).
            Assert.Equal(0L, await ScalarAsync<long>(a, shard, """
                SELECT count(*) FROM reminder_deliveries d JOIN reminder_jobs j ON j.tenant_id = d.tenant_id AND j.id = d.job_id
                WHERE d.tenant_id = $1 AND (d.delivered_at < j.due_at OR j.due_at <> $2 - CASE j.kind WHEN '24h' THEN interval '3 s' ELSE interval '1.5 s' END)
                """, tenant.Value, startsAt));
        }

        var deliverers = new HashSet<string>();
        foreach (var (tenant, shard) in tenants)
        {
            deliverers.UnionWith((await ScalarAsync<string>(a, shard, "SELECT string_agg(DISTINCT delivered_by, ',') FROM reminder_deliveries WHERE tenant_id = $1", tenant.Value)).Split(','));
        }

        Assert.Equal(["instance-a", "instance-b"], deliverers.Order());
    }

    [Fact]
    public async Task A_rolled_back_booking_leaves_no_job_reminders_already_due_are_skipped_and_enqueueing_twice_adds_nothing()
    {
        await using var app = await BookingApp.StartAsync(_servers, configure: Fast(b => b.UseSetting("BookingHost:Reminders:WorkerEnabled", "false")));
        var tenant = await app.CreateBusinessAsync("shard-1");

        var rolledBack = Guid.NewGuid();
        await Assert.ThrowsAsync<InvalidOperationException>(() => app.Router.WriteAsync<int>(tenant, async (tx, ct) =>
        {
            await ReminderJobs.EnqueueForBookingAsync(tx, tenant, rolledBack, DateTimeOffset.UtcNow.AddMinutes(10), ct);
            Assert.Equal(2L, await CountInTransactionAsync(tx, rolledBack)); // written, under RLS, in the booking's transaction
            throw new InvalidOperationException("the booking failed");
        }));
        Assert.Equal(0L, await JobCountAsync(app, "shard-1", rolledBack));

        // Starts in 2 s: the 24h reminder (due 3 s before) is already due and skipped, the 1h one is queued.
        var soon = Guid.NewGuid();
        var startsAt = DateTimeOffset.UtcNow.AddSeconds(2);
        await app.Router.WriteAsync(tenant, async (tx, ct) => { await ReminderJobs.EnqueueForBookingAsync(tx, tenant, soon, startsAt, ct); return 0; });
        await app.Router.WriteAsync(tenant, async (tx, ct) => { await ReminderJobs.EnqueueForBookingAsync(tx, tenant, soon, startsAt, ct); return 0; }); // a retried request
        Assert.Equal("1h", await ScalarAsync<string>(app, "shard-1", "SELECT string_agg(kind, ',') FROM reminder_jobs WHERE tenant_id = $1 AND booking_id = $2", tenant.Value, soon));

        var later = Guid.NewGuid();
        await app.Router.WriteAsync(tenant, async (tx, ct) => { await ReminderJobs.EnqueueForBookingAsync(tx, tenant, later, DateTimeOffset.UtcNow.AddMinutes(5), ct); return 0; });
        Assert.Equal("1h,24h", await ScalarAsync<string>(app, "shard-1", "SELECT string_agg(kind, ',' ORDER BY kind) FROM reminder_jobs WHERE tenant_id = $1 AND booking_id = $2", tenant.Value, later));

        // Rescheduled: cancelled, then enqueued for a new start: pending again, due for the new start, with new job ids.
        const string Jobs = "SELECT string_agg(kind || ':' || status || ':' || (due_at = $3 - CASE kind WHEN '24h' THEN interval '3 s' ELSE interval '1.5 s' END), ',' ORDER BY kind) FROM reminder_jobs WHERE tenant_id = $1 AND booking_id = $2";
        const string Ids = "SELECT string_agg(id::text, ',' ORDER BY kind) FROM reminder_jobs WHERE tenant_id = $1 AND booking_id = $2";
        var ids = await ScalarAsync<string>(app, "shard-1", Ids, tenant.Value, later);
        var moved = DateTimeOffset.UtcNow.AddMinutes(7);
        await app.Router.WriteAsync(tenant, async (tx, ct) => { await ReminderJobs.CancelForBookingAsync(tx, tenant, later, ct); return 0; });
        await app.Router.WriteAsync(tenant, async (tx, ct) => { await ReminderJobs.EnqueueForBookingAsync(tx, tenant, later, moved, ct); return 0; });
        Assert.Equal("1h:pending:true,24h:pending:true", await ScalarAsync<string>(app, "shard-1", Jobs, tenant.Value, later, moved));
        Assert.NotEqual(ids, await ScalarAsync<string>(app, "shard-1", Ids, tenant.Value, later));
    }

    [Fact]
    public async Task A_cancelled_booking_is_never_reminded()
    {
        await using var app = await BookingApp.StartAsync(_servers, configure: Fast());
        var tenant = await app.CreateBusinessAsync("shard-2");
        var cancelled = Guid.NewGuid();
        var kept = Guid.NewGuid();
        var startsAt = DateTimeOffset.UtcNow.AddSeconds(3.5);
        await app.Router.WriteAsync(tenant, async (tx, ct) =>
        {
            await ReminderJobs.EnqueueForBookingAsync(tx, tenant, cancelled, startsAt, ct);
            await ReminderJobs.EnqueueForBookingAsync(tx, tenant, kept, startsAt, ct);
            return 0;
        });
        await app.Router.WriteAsync(tenant, async (tx, ct) => { await ReminderJobs.CancelForBookingAsync(tx, tenant, cancelled, ct); return 0; });

        await Eventually.TrueAsync(async () => await DeliveryCountAsync(app, "shard-2", kept) == 2, TimeSpan.FromSeconds(15), "the kept booking's two reminders");
        Assert.Equal(0L, await DeliveryCountAsync(app, "shard-2", cancelled));
        Assert.Equal(2L, await ScalarAsync<long>(app, "shard-2", "SELECT count(*) FROM reminder_jobs WHERE tenant_id = $1 AND booking_id = $2 AND status = 'cancelled'", tenant.Value, cancelled));
    }

    [Fact]
    public async Task A_failing_send_is_retried_with_growing_delays_and_dead_lettered_after_max_attempts()
    {
        var target = Guid.NewGuid();
        var failing = new FailingSender(target);
        await using var app = await BookingApp.StartAsync(_servers, configure: Fast(b =>
        {
            b.UseSetting("BookingHost:Reminders:MaxAttempts", "4");
            b.UseSetting("BookingHost:Reminders:RetryBaseDelay", "00:00:00.300");
            b.UseSetting("BookingHost:Reminders:PollInterval", "00:00:00.050");
            b.ConfigureServices(s => s.AddSingleton<IReminderSender>(failing));
        }));
        var tenant = await app.CreateBusinessAsync("shard-1");
        var startsAt = DateTimeOffset.UtcNow.AddSeconds(1.6); // only the 1h reminder, due in 0.1 s
        await app.Router.WriteAsync(tenant, async (tx, ct) => { await ReminderJobs.EnqueueForBookingAsync(tx, tenant, target, startsAt, ct); return 0; });

        await Eventually.TrueAsync(
            async () => await ScalarAsync<string>(app, "shard-1", "SELECT status FROM reminder_jobs WHERE tenant_id = $1 AND booking_id = $2", tenant.Value, target) == "dead",
            TimeSpan.FromSeconds(20),
            "the job is dead-lettered");

        Assert.Equal(4, await ScalarAsync<int>(app, "shard-1", "SELECT attempts FROM reminder_jobs WHERE tenant_id = $1 AND booking_id = $2", tenant.Value, target));
        Assert.Equal("InvalidOperationException: smtp down (attempt 4)", await ScalarAsync<string>(app, "shard-1", "SELECT last_error FROM reminder_jobs WHERE tenant_id = $1 AND booking_id = $2", tenant.Value, target));
        Assert.Equal(0L, await DeliveryCountAsync(app, "shard-1", target)); // the failed sends' writes were rolled back

        var times = failing.Attempts.ToArray();
        Assert.Equal(4, times.Length);
        var gaps = times.Zip(times.Skip(1), (x, y) => y - x).ToArray();
        // 300 ms, 600 ms, 1200 ms (-20 %), plus up to one poll interval each and the scheduling delays of a loaded
        // 2-core machine (the lower bounds are the backoff; the upper ones only say it does not run away).
        Assert.InRange(gaps[0].TotalMilliseconds, 230, 900);
        Assert.InRange(gaps[1].TotalMilliseconds, 470, 1300);
        Assert.InRange(gaps[2].TotalMilliseconds, 950, 2100);
        Assert.True(gaps[2] > gaps[0], $"the delays grow: {string.Join(", ", gaps.Select(g => g.TotalMilliseconds))} ms");
        await Task.Delay(500);
        Assert.Equal(4, failing.Attempts.Count); // dead means no further attempts
    }

    [Fact]
    public async Task A_job_claimed_by_an_instance_that_dies_mid_send_is_delivered_by_another()
    {
        var cluster = BookingApp.NewCluster();
        var target = Guid.NewGuid();
        var blocking = new BlockingSender(target);
        var a = await BookingApp.StartAsync(_servers, cluster, Fast(b => b.ConfigureServices(s => s.AddSingleton<IReminderSender>(blocking))));
        BookingApp? b = null;
        try
        {
            var tenant = await a.CreateBusinessAsync("shard-1");
            await a.Router.WriteAsync(tenant, async (tx, ct) => { await ReminderJobs.EnqueueForBookingAsync(tx, tenant, target, DateTimeOffset.UtcNow.AddSeconds(1.6), ct); return 0; });
            var backend = await blocking.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));

            // While A holds the job's row lock, B skips it.
            b = await BookingApp.StartAsync(_servers, cluster, Fast());
            await Task.Delay(1000);
            Assert.Equal("pending", await ScalarAsync<string>(b, "shard-1", "SELECT status FROM reminder_jobs WHERE tenant_id = $1 AND booking_id = $2", tenant.Value, target));
            Assert.Equal(0L, await DeliveryCountAsync(b, "shard-1", target));

            // A dies mid-send: its connection goes, and the lock with it.
            Assert.True(await ScalarAsync<bool>(b, "shard-1", "SELECT pg_terminate_backend($1)", backend));

            await Eventually.TrueAsync(async () => await DeliveryCountAsync(b, "shard-1", target) == 1, TimeSpan.FromSeconds(10), "B delivers the job");
            Assert.Equal("sent", await ScalarAsync<string>(b, "shard-1", "SELECT status FROM reminder_jobs WHERE tenant_id = $1 AND booking_id = $2", tenant.Value, target));
            Assert.Equal(1, await ScalarAsync<int>(b, "shard-1", "SELECT attempts FROM reminder_jobs WHERE tenant_id = $1 AND booking_id = $2", tenant.Value, target));
        }
        finally
        {
            blocking.Release.TrySetResult();
            await a.DisposeAsync();
            if (b is not null)
            {
                await b.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_poll_reads_the_due_jobs_only_not_every_pending_one()
    {
        await using var app = await BookingApp.StartAsync(_servers, configure: Fast(b => b.UseSetting("BookingHost:Reminders:WorkerEnabled", "false")));
        var tenant = await app.CreateBusinessAsync("shard-2");
        var primary = app.Router.GetShard("shard-2").Primary;

        // 20,000 pending reminders, due from tomorrow on, and one due now.
        const string Fill = """
            INSERT INTO reminder_jobs (tenant_id, id, booking_id, kind, due_at, next_attempt_at)
            SELECT $1, gen_random_uuid(), gen_random_uuid(), '24h', d, d
            FROM generate_series(1, $2) i, LATERAL (SELECT now() + interval '1 day' + i * interval '1 minute' AS d) x
            """;
        await ExecuteAsync(primary, Fill, tenant.Value, 20_000);
        await ExecuteAsync(primary, "INSERT INTO reminder_jobs (tenant_id, id, booking_id, kind, due_at, next_attempt_at) VALUES ($1, gen_random_uuid(), gen_random_uuid(), '1h', now(), now())", tenant.Value);
        try
        {
            // The worker's own claim, as it runs it (rolled back: nothing is claimed).
            await using var connection = await primary.OpenConnectionAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            await using var explain = new NpgsqlCommand("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + ReminderWorker.ClaimSql, connection, transaction);
            explain.Parameters.Add(new NpgsqlParameter { Value = 100 });
            using var plan = System.Text.Json.JsonDocument.Parse((string)(await explain.ExecuteScalarAsync())!);
            var root = plan.RootElement[0].GetProperty("Plan");
            var buffers = root.GetProperty("Shared Hit Blocks").GetInt64() + root.GetProperty("Shared Read Blocks").GetInt64();

            Assert.True(root.GetProperty("Actual Rows").GetDouble() >= 1, "the due job is claimed");
            Assert.True(buffers < 100, $"the claim read {buffers} buffers for 1 due job among 20,001 pending: {root}");
        }
        finally
        {
            await ExecuteAsync(primary, "DELETE FROM reminder_jobs WHERE tenant_id = $1", tenant.Value);
        }
    }

    [Fact]
    public void Retry_delays_double_from_the_base_with_jitter_and_a_cap()
    {
        var baseDelay = TimeSpan.FromSeconds(30);
        var cap = TimeSpan.FromMinutes(10);
        Assert.Equal(TimeSpan.FromSeconds(24), ReminderWorker.RetryDelay(1, baseDelay, cap, 0));
        Assert.Equal(TimeSpan.FromSeconds(60), ReminderWorker.RetryDelay(2, baseDelay, cap, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(120 * 1.2), ReminderWorker.RetryDelay(3, baseDelay, cap, 1));
        Assert.Equal(TimeSpan.FromMinutes(10), ReminderWorker.RetryDelay(12, baseDelay, cap, 0.5));
    }

    private static Task<long> JobCountAsync(BookingApp app, string shard, Guid bookingId)
        => ScalarAsync<long>(app, shard, "SELECT count(*) FROM reminder_jobs WHERE booking_id = $1", bookingId);

    private static Task<long> DeliveryCountAsync(BookingApp app, string shard, Guid bookingId)
        => ScalarAsync<long>(app, shard, "SELECT count(*) FROM reminder_deliveries WHERE booking_id = $1", bookingId);

    /// <summary>A query on the shard's primary as the shard's owner (all tenants: row-level security does not apply).</summary>
    private static async Task<T> ScalarAsync<T>(BookingApp app, string shard, string sql, params object[] parameters)
    {
        await using var command = Command(app.Router.GetShard(shard).Primary, sql, parameters);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static async Task ExecuteAsync(NpgsqlDataSource primary, string sql, params object[] parameters)
    {
        await using var command = Command(primary, sql, parameters);
        await command.ExecuteNonQueryAsync();
    }

    private static NpgsqlCommand Command(NpgsqlDataSource primary, string sql, object[] parameters)
    {
        var command = primary.CreateCommand(sql);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }

        return command;
    }

    private static async Task<long> CountInTransactionAsync(NpgsqlTransaction tx, Guid bookingId)
    {
        await using var command = new NpgsqlCommand("SELECT count(*) FROM reminder_jobs WHERE booking_id = $1", tx.Connection, tx);
        command.Parameters.Add(new NpgsqlParameter { Value = bookingId });
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Records the delivery after 20 ms.</summary>
    private sealed class SlowSender(string instance) : IReminderSender
    {
        private readonly RecordingReminderSender _recording = new(instance);

        public async Task SendAsync(DueReminder reminder, NpgsqlTransaction transaction, CancellationToken cancellationToken)
        {
            await Task.Delay(20, cancellationToken);
            await _recording.SendAsync(reminder, transaction, cancellationToken);
        }
    }

    /// <summary>Records the delivery, then fails, for one booking's jobs (others are delivered normally).</summary>
    private sealed class FailingSender(Guid bookingId) : IReminderSender
    {
        private readonly RecordingReminderSender _recording = new("failing-test");

        public ConcurrentQueue<DateTimeOffset> Attempts { get; } = new();

        public async Task SendAsync(DueReminder reminder, NpgsqlTransaction transaction, CancellationToken cancellationToken)
        {
            await _recording.SendAsync(reminder, transaction, cancellationToken);
            if (reminder.BookingId == bookingId)
            {
                Attempts.Enqueue(DateTimeOffset.UtcNow);
                throw new InvalidOperationException($"smtp down (attempt {reminder.Attempt})");
            }
        }
    }

    /// <summary>Blocks (as a hung or dying instance would) on one booking's job; delivers the others.</summary>
    private sealed class BlockingSender(Guid bookingId) : IReminderSender
    {
        private readonly RecordingReminderSender _recording = new("blocking-test");

        public TaskCompletionSource<int> Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task SendAsync(DueReminder reminder, NpgsqlTransaction transaction, CancellationToken cancellationToken)
        {
            if (reminder.BookingId != bookingId)
            {
                await _recording.SendAsync(reminder, transaction, cancellationToken);
                return;
            }

            Entered.TrySetResult(transaction.Connection!.ProcessID);
            await Release.Task; // ignores the send timeout: a dying instance does not finish
            throw new InvalidOperationException("the instance died");
        }
    }
}
