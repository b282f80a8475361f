using System.Data;
using System.Diagnostics;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using Polly.CircuitBreaker;

namespace Scaling.Data;

/// <summary>Read routing: which server serves a read, and the bounded fallback to the primary.</summary>
public sealed partial class ReadWriteDataSource
{
    private const string ReplayLsnSql = "SELECT pg_last_wal_replay_lsn()";

    /// <summary>
    /// Routes a read in rounds under the read retry pipeline; a server that failed is skipped by later rounds. The
    /// routing decision is recorded on <paramref name="activity"/>, the read's span (when it is listened to).
    /// </summary>
    private ValueTask<(T Value, DataServer Server)> ReadWithRetriesAsync<T>(
        Func<NpgsqlConnection, CancellationToken, Task<T>> work,
        bool keepOpen,
        ConsistencyToken? token,
        Activity? activity,
        CancellationToken cancellationToken)
        => _readRetry.ExecuteAsync(
            static (state, ct) => state.Self.RouteReadAsync(state.Work, state.KeepOpen, state.Token, state.Attempt, ct),
            (Self: this, Work: work, KeepOpen: keepOpen, Token: token, Attempt: new ReadAttempt(activity)),
            cancellationToken);

    /// <summary>
    /// Routes one round of a read: replicas known to have reached the token in round-robin order (a server that
    /// fails is skipped for the rest of this read), then the most advanced healthy replica checked live against
    /// the token, then the primary within the fallback bound.
    /// </summary>
    private async ValueTask<(T Value, DataServer Server)> RouteReadAsync<T>(
        Func<NpgsqlConnection, CancellationToken, Task<T>> work,
        bool keepOpen,
        ConsistencyToken? token,
        ReadAttempt attempt,
        CancellationToken cancellationToken)
    {
        var count = _replicas.Length;
        if (count > 0)
        {
            DataServer? behind = null;
            var start = (int)((uint)Interlocked.Increment(ref _next) % (uint)count);
            for (var i = 0; i < count; i++)
            {
                var replica = _replicas[(start + i) % count];
                if (!replica.TakesReads || attempt.Failed(replica))
                {
                    continue;
                }

                if (token is { } required && !required.IsReachedBy(new NpgsqlLogSequenceNumber(replica.ReplayLsn)))
                {
                    if (replica.Health == ReplicaHealth.Healthy && (behind is null || replica.ReplayLsn > behind.ReplayLsn))
                    {
                        behind = replica;
                    }

                    continue;
                }

                try
                {
                    DataActivities.Routed(attempt.Activity, replica, token is null ? DataActivities.ReplicaAvailable : DataActivities.TokenReached);
                    var value = await replica.RunAsync(work, keepOpen, cancellationToken).ConfigureAwait(false);
                    _instruments.Reads.Add(1, DataInstruments.Tags(Name, "role", "replica"));
                    return (value, replica);
                }
                catch (Exception e) when (TransientErrors.IsConnectionFailure(e) && !cancellationToken.IsCancellationRequested)
                {
                    attempt.Fail(replica, e);
                }
            }

            if (behind is not null && token is { } needed)
            {
                try
                {
                    var (reached, value) = await behind.RunAsync(
                        async (connection, ct) =>
                        {
                            if (!await HasReachedAsync(behind, connection, needed, ct).ConfigureAwait(false))
                            {
                                if (keepOpen)
                                {
                                    await connection.DisposeAsync().ConfigureAwait(false);
                                }

                                return (false, default(T)!);
                            }

                            return (true, await work(connection, ct).ConfigureAwait(false));
                        },
                        keepOpen,
                        cancellationToken).ConfigureAwait(false);
                    if (reached)
                    {
                        DataActivities.Routed(attempt.Activity, behind, DataActivities.TokenReachedLive);
                        _instruments.Reads.Add(1, DataInstruments.Tags(Name, "role", "replica"));
                        return (value, behind);
                    }
                }
                catch (Exception e) when (TransientErrors.IsConnectionFailure(e) && !cancellationToken.IsCancellationRequested)
                {
                    attempt.Fail(behind, e);
                }
            }

            var reason = token is not null && _replicas.Any(r => r.TakesReads && !attempt.Failed(r)) ? "token_not_reached" : "no_replica_available";
            _instruments.Fallbacks.Add(1, DataInstruments.Tags(Name, "reason", reason));
            if (attempt.Activity is { } activity)
            {
                DataActivities.Routed(activity, _primary, FallbackReason(reason, attempt));
            }

            return (await ReadOnPrimaryWithinBoundAsync(work, keepOpen, cancellationToken).ConfigureAwait(false), _primary);
        }

        DataActivities.Routed(attempt.Activity, _primary, DataActivities.NoReplicas);
        _instruments.Reads.Add(1, DataInstruments.Tags(Name, "role", "primary"));
        return (await RunOnPrimaryAsync(work, keepOpen, cancellationToken).ConfigureAwait(false), _primary);
    }

    /// <summary>
    /// Routes a read with no I/O, from what the health monitor last saw (for <see cref="ForReads"/>'s <c>CreateConnection</c>):
    /// a replica that takes reads and is known to have replayed <paramref name="token"/>, in round-robin order, else the
    /// primary. The connection is not opened; a fallback to the primary holds no slot of the bound (nothing is open yet).
    /// </summary>
    internal NpgsqlConnection CreateRoutedReadConnection(ConsistencyToken? token)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var count = _replicas.Length;
        if (count > 0)
        {
            var start = (int)((uint)Interlocked.Increment(ref _next) % (uint)count);
            for (var i = 0; i < count; i++)
            {
                var replica = _replicas[(start + i) % count];
                if (replica.TakesReads && (token is not { } required || required.IsReachedBy(new NpgsqlLogSequenceNumber(replica.ReplayLsn))))
                {
                    _instruments.Reads.Add(1, DataInstruments.Tags(Name, "role", "replica"));
                    return replica.DataSource.CreateConnection();
                }
            }

            var reason = token is not null && Array.Exists(_replicas, static r => r.TakesReads) ? "token_not_reached" : "no_replica_available";
            _instruments.Fallbacks.Add(1, DataInstruments.Tags(Name, "reason", reason));
        }

        _instruments.Reads.Add(1, DataInstruments.Tags(Name, "role", "primary"));
        return _primary.DataSource.CreateConnection();
    }

    /// <summary>Why a read fell back to the primary, in more detail than the fallback metric's reason (for the read's span).</summary>
    private string FallbackReason(string metricReason, ReadAttempt attempt)
    {
        if (metricReason == "token_not_reached")
        {
            return DataActivities.TokenNotReached;
        }

        if (attempt.AnyFailed)
        {
            return DataActivities.ReplicaFailed;
        }

        return Array.TrueForAll(_replicas, static r => r.Health == ReplicaHealth.Ejected) ? DataActivities.ReplicasEjected : DataActivities.NoReplicaAvailable;
    }

    private async Task<T> ReadOnPrimaryWithinBoundAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, bool keepOpen, CancellationToken cancellationToken)
    {
        if (!await _fallbackSlots.WaitAsync(_options.PrimaryFallbackWaitTimeout, cancellationToken).ConfigureAwait(false))
        {
            _instruments.Rejections.Add(1, DataInstruments.Tags(Name, "reason", "fallback_limit"));
            DataLog.ReadRejected(_logger, Name, _options.MaxPrimaryFallbackReads);
            throw new ReadCapacityExceededException(string.Create(
                CultureInfo.InvariantCulture,
                $"Data source '{Name}': no replica can serve this read (ejected, failing, or behind the read's consistency token) and the primary already runs the maximum of {_options.MaxPrimaryFallbackReads} fallback reads (ScalingDataOptions.MaxPrimaryFallbackReads); waited {_options.PrimaryFallbackWaitTimeout.TotalMilliseconds:0} ms for a slot."));
        }

        var releaseHere = true;
        try
        {
            var value = await RunOnPrimaryAsync(
                keepOpen
                    ? async (connection, ct) =>
                    {
                        var result = await work(connection, ct).ConfigureAwait(false);
                        ReleaseSlotWhenClosed(connection);
                        releaseHere = false;
                        return result;
                    }
                    : work,
                keepOpen,
                cancellationToken).ConfigureAwait(false);
            _instruments.Reads.Add(1, DataInstruments.Tags(Name, "role", "primary"));
            return value;
        }
        finally
        {
            if (releaseHere)
            {
                _fallbackSlots.Release();
            }
        }
    }

    private void ReleaseSlotWhenClosed(NpgsqlConnection connection)
    {
        var released = 0;
        connection.StateChange += (_, change) =>
        {
            if (change.CurrentState == ConnectionState.Closed && Interlocked.Exchange(ref released, 1) == 0 && _disposed == 0)
            {
                _fallbackSlots.Release();
            }
        };
    }

    private async Task<T> RunOnPrimaryAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, bool keepOpen, CancellationToken cancellationToken)
    {
        try
        {
            return await _primary.RunAsync(work, keepOpen, cancellationToken).ConfigureAwait(false);
        }
        catch (BrokenCircuitException e)
        {
            throw PrimaryUnavailable(e);
        }
    }

    private static async Task<bool> HasReachedAsync(DataServer replica, NpgsqlConnection connection, ConsistencyToken token, CancellationToken cancellationToken)
    {
        using var command = new NpgsqlCommand(ReplayLsnSql, connection);
        if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is NpgsqlLogSequenceNumber replay)
        {
            replica.ObserveReplayLsn((ulong)replay);
            return token.IsReachedBy(replay);
        }

        return false;
    }

    private static async Task<StatementRows> RunStatementAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction? transaction,
        string sql,
        IReadOnlyList<object?>? parameters,
        CancellationToken cancellationToken)
    {
        using var command = new NpgsqlCommand(sql, connection, transaction);
        if (parameters is not null)
        {
            foreach (var value in parameters)
            {
                command.Parameters.Add(new NpgsqlParameter { Value = value ?? DBNull.Value });
            }
        }

        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerLifetime = reader.ConfigureAwait(false);
        var columns = new string[reader.FieldCount];
        for (var i = 0; i < columns.Length; i++)
        {
            columns[i] = reader.GetName(i);
        }

        var rows = new List<object?[]>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var row = new object?[columns.Length];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = await reader.IsDBNullAsync(i, cancellationToken).ConfigureAwait(false) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        await reader.CloseAsync().ConfigureAwait(false);
        return new StatementRows(columns, rows, reader.RecordsAffected);
    }

    private static async Task<ConsistencyToken> ReadInsertLsnAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        using var command = new NpgsqlCommand(InsertLsnSql, connection);
        var lsn = (NpgsqlLogSequenceNumber)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        return ConsistencyToken.FromLsn(lsn);
    }

    /// <summary>
    /// After a commit nothing may throw (a retry would write twice): the token is read on the same connection,
    /// else on a new one (a later position is still a valid token), else it is <see langword="null"/>.
    /// </summary>
    private async Task<ConsistencyToken?> TryReadTokenAfterCommitAsync(NpgsqlConnection connection)
    {
        using var timeout = new CancellationTokenSource(_options.HealthCheckTimeout);
        try
        {
            return await ReadInsertLsnAsync(connection, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (TransientErrors.IsConnectionFailure(e) || e is OperationCanceledException)
        {
            try
            {
                var fresh = await _primary.DataSource.OpenConnectionAsync(timeout.Token).ConfigureAwait(false);
                await using var freshLifetime = fresh.ConfigureAwait(false);
                return await ReadInsertLsnAsync(fresh, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception again) when (TransientErrors.IsConnectionFailure(again) || again is OperationCanceledException)
            {
                return null;
            }
        }
    }

    private PrimaryUnavailableException PrimaryUnavailable(Exception cause) => new(
        cause is BrokenCircuitException
            ? $"Data source '{Name}': the primary {_primary.Name} is unavailable (its circuit breaker is open after repeated connection failures); nothing was sent."
            : $"Data source '{Name}': the primary {_primary.Name} could not be reached ({cause.Message}); nothing was sent.",
        cause);

    private readonly record struct StatementRows(IReadOnlyList<string> Columns, IReadOnlyList<object?[]> Rows, int RowsAffected);

    /// <summary>The servers that failed during one read, skipped by its later rounds; and the read's span, if listened to.</summary>
    private sealed class ReadAttempt(Activity? activity)
    {
        private List<DataServer>? _failed;

        public Activity? Activity { get; } = activity;

        public bool AnyFailed => _failed is { Count: > 0 };

        public bool Failed(DataServer server) => _failed is not null && _failed.Contains(server);

        public void Fail(DataServer server, Exception exception)
        {
            (_failed ??= []).Add(server);
            DataActivities.ServerFailed(Activity, server, exception);
        }
    }
}
