using BookingHost.Infrastructure;
using Microsoft.Extensions.Options;
using Npgsql;
using Scaling.Tenancy;
using Scaling.Tenancy.Sharding;

namespace BookingHost.Reminders;

/// <summary>
/// Works the reminder queue on every shard; runs on every instance. Each poll, per shard, claims up to
/// <see cref="ReminderOptions.BatchSize"/> due jobs with <c>FOR UPDATE SKIP LOCKED</c> in one transaction on the
/// shard's primary (instances never wait for or take each other's jobs), sends each through
/// <see cref="IReminderSender"/> under a savepoint, marks it sent or schedules its retry, and commits.
/// </summary>
/// <remarks>
/// The row lock is held during the send instead of a lease column: nothing to expire or renew, and a killed instance's
/// locks go with its connection, so another instance claims the jobs on its next poll (what was sent by an outside
/// sender before the kill is sent again: at least once; what a sender records in the transaction: exactly once).
/// Jobs of a tenant the shard does not own as active (a move is finishing) are left alone, and the ownership row is
/// share-locked like every tenant write, so a move's fence waits for a batch in flight.
/// </remarks>
public sealed class ReminderWorker(
    ShardRouter router,
    DatabaseSetupService setup,
    IReminderSender sender,
    IOptions<ReminderOptions> options,
    TimeProvider timeProvider,
    ILogger<ReminderWorker> logger) : BackgroundService
{
    /// <summary>
    /// The due pending jobs of tenants this shard owns, oldest first, read from the due-time index alone whatever the
    /// planner's statistics say: the due time is compared with <c>statement_timestamp()</c>, which is stable within the
    /// statement and so bounds the index (the volatile <c>clock_timestamp()</c> could only filter it), and the tenant's
    /// ownership is a per-job subquery, which the planner cannot turn into a join that starts from the tenants. As a
    /// join, with statistics that thought a tenant small, it walked every pending job of every owned tenant: 20,128
    /// buffers for 1 due job among 20,001 pending. The subquery share-locks the tenant's row, as the join did, so a
    /// move's fence waits for a batch in flight and a batch after it sees the tenant no longer active.
    /// </summary>
    internal const string ClaimSql = """
        SELECT j.tenant_id, j.id, j.booking_id, j.kind, j.due_at, j.attempts
        FROM reminder_jobs j
        WHERE j.status = 'pending' AND j.next_attempt_at <= statement_timestamp()
          AND (SELECT o.state FROM scaling_tenancy.owned_tenants o WHERE o.tenant_id = j.tenant_id FOR SHARE) = 'active'
        ORDER BY j.next_attempt_at
        LIMIT $1
        FOR UPDATE OF j SKIP LOCKED
        """;

    private const string SentSql = """
        UPDATE reminder_jobs SET status = 'sent', attempts = attempts + 1, last_error = NULL, finished_at = clock_timestamp()
        WHERE tenant_id = $1 AND booking_id = $2 AND kind = $3 AND status = 'pending'
        """;

    private const string RetrySql = """
        UPDATE reminder_jobs SET attempts = attempts + 1, last_error = $4, next_attempt_at = clock_timestamp() + $5
        WHERE tenant_id = $1 AND booking_id = $2 AND kind = $3 AND status = 'pending'
        """;

    private const string DeadSql = """
        UPDATE reminder_jobs SET status = 'dead', attempts = attempts + 1, last_error = $4, finished_at = clock_timestamp()
        WHERE tenant_id = $1 AND booking_id = $2 AND kind = $3 AND status = 'pending'
        """;

    private const int MaxErrorLength = 2000;

    private readonly ReminderOptions _options = options.Value;

    /// <summary>Applies the schedule for <see cref="ReminderJobs"/>, then starts the worker.</summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        ReminderJobs.Schedule = new ReminderSchedule(_options.DayBefore, _options.HourBefore);
        return _options.WorkerEnabled ? base.StartAsync(cancellationToken) : Task.CompletedTask;
    }

    /// <summary>Computes the delay before the next attempt after <paramref name="attempts"/> failures: base·2^(attempts−1), capped, ±20 %.</summary>
    /// <param name="attempts">The failed attempts so far (at least 1).</param>
    /// <param name="baseDelay">The first delay.</param>
    /// <param name="maxDelay">The cap.</param>
    /// <param name="jitter">A number in [0, 1).</param>
    /// <returns>The delay.</returns>
    public static TimeSpan RetryDelay(int attempts, TimeSpan baseDelay, TimeSpan maxDelay, double jitter)
    {
        var exponential = baseDelay.TotalMilliseconds * Math.Pow(2, Math.Clamp(attempts - 1, 0, 30));
        var capped = Math.Min(exponential, maxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped * (0.8 + (0.4 * jitter)));
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await setup.Ready.WaitAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e)
        {
            ReminderLog.SetupFailed(logger, e);
            return;
        }

        using var timer = new PeriodicTimer(_options.PollInterval, timeProvider);
        try
        {
            do
            {
                await Task.WhenAll(router.Map.Shards.Select(shard => WorkShardAsync(shard.Id, stoppingToken)));
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: a batch in flight was rolled back; its jobs stay pending for the next instance.
        }
    }

    private async Task WorkShardAsync(string shardId, CancellationToken stoppingToken)
    {
        try
        {
            var primary = router.GetShard(shardId).Primary;
            while (await RunBatchAsync(primary, shardId, stoppingToken) == _options.BatchSize)
            {
                // A full batch: more may be due.
            }
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            ReminderInstruments.PollFailures.Add(1, new KeyValuePair<string, object?>("shard", shardId));
            ReminderLog.PollFailed(logger, shardId, e);
        }
    }

    private async Task<int> RunBatchAsync(NpgsqlDataSource primary, string shardId, CancellationToken stoppingToken)
    {
        await using var connection = await primary.OpenConnectionAsync(stoppingToken);
        await using var transaction = await connection.BeginTransactionAsync(stoppingToken);
        var jobs = new List<DueReminder>();
        await using (var claim = new NpgsqlCommand(ClaimSql, connection, transaction))
        {
            claim.Parameters.Add(new() { Value = _options.BatchSize });
            await using var reader = await claim.ExecuteReaderAsync(stoppingToken);
            while (await reader.ReadAsync(stoppingToken))
            {
                jobs.Add(new DueReminder(
                    TenantId.Parse(reader.GetString(0)),
                    reader.GetGuid(1),
                    reader.GetGuid(2),
                    reader.GetString(3),
                    reader.GetFieldValue<DateTimeOffset>(4),
                    reader.GetInt32(5) + 1));
            }
        }

        if (jobs.Count == 0)
        {
            return 0;
        }

        var sent = 0;
        foreach (var job in jobs)
        {
            sent += await SendAsync(transaction, job, stoppingToken) ? 1 : 0;
        }

        await transaction.CommitAsync(stoppingToken);
        ReminderInstruments.Sent.Add(sent);
        ReminderLog.BatchSent(logger, sent, shardId);
        return jobs.Count;
    }

    private async Task<bool> SendAsync(NpgsqlTransaction transaction, DueReminder job, CancellationToken stoppingToken)
    {
        await transaction.SaveAsync("reminder", stoppingToken);
        Exception failure;
        try
        {
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
            {
                timeout.CancelAfter(_options.SendTimeout);
                await sender.SendAsync(job, transaction, timeout.Token);
            }

            await ExecuteAsync(transaction, SentSql, job, stoppingToken);
            await transaction.ReleaseAsync("reminder", stoppingToken);
            ReminderInstruments.Lag.Record(Math.Max(0, (timeProvider.GetUtcNow() - job.DueAt).TotalSeconds));
            return true;
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested && transaction.Connection is { State: System.Data.ConnectionState.Open })
        {
            failure = e;
        }

        // The send's own writes are undone; the attempt is recorded.
        await transaction.RollbackAsync("reminder", stoppingToken);
        var error = $"{failure.GetType().Name}: {failure.Message}";
        error = error.Length > MaxErrorLength ? error[..MaxErrorLength] : error;
        if (job.Attempt >= _options.MaxAttempts)
        {
            await ExecuteAsync(transaction, DeadSql, job, stoppingToken, error);
            ReminderInstruments.Dead.Add(1);
            ReminderLog.DeadLettered(logger, job.JobId, job.Tenant.Value, job.Attempt, failure);
        }
        else
        {
            var delay = RetryDelay(job.Attempt, _options.RetryBaseDelay, _options.MaxRetryDelay, Random.Shared.NextDouble());
            await ExecuteAsync(transaction, RetrySql, job, stoppingToken, error, delay);
            ReminderInstruments.Failed.Add(1);
            ReminderLog.SendFailed(logger, job.JobId, job.Tenant.Value, job.Attempt, delay, failure);
        }

        return false;
    }

    private static async Task ExecuteAsync(NpgsqlTransaction transaction, string sql, DueReminder job, CancellationToken cancellationToken, string? error = null, TimeSpan? delay = null)
    {
        await using var command = new NpgsqlCommand(sql, transaction.Connection, transaction);
        // By the primary key (tenant, booking, kind).
        command.Parameters.Add(new() { Value = job.Tenant.Value });
        command.Parameters.Add(new() { Value = job.BookingId });
        command.Parameters.Add(new() { Value = job.Kind });
        if (error is not null)
        {
            command.Parameters.Add(new() { Value = error });
        }

        if (delay is { } d)
        {
            command.Parameters.Add(new() { Value = d });
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
