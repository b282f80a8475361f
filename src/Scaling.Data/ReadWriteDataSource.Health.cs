using System.Globalization;
using Npgsql;
using NpgsqlTypes;

namespace Scaling.Data;

/// <summary>Replica health: probes, ejection with hysteresis, readmission.</summary>
public sealed partial class ReadWriteDataSource
{
    private const string PrimaryProbeSql =
        "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_insert_lsn() END";

    /// <summary>
    /// Runs <see cref="CheckReplicasAsync"/> every <see cref="ScalingDataOptions.HealthCheckInterval"/> until
    /// <paramref name="cancellationToken"/> is cancelled. A failing round is logged and the next one runs on time.
    /// The hosted service registered by <c>services.AddScalingData(...)</c> runs this; call it yourself for data
    /// sources you create directly.
    /// </summary>
    /// <param name="cancellationToken">Stops the monitoring.</param>
    /// <returns>A task that completes when monitoring stops.</returns>
    public async Task MonitorAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.HealthCheckInterval, _timeProvider);
        do
        {
            try
            {
                await CheckReplicasAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
#pragma warning disable CA1031 // A monitoring loop must survive any failure of one round; it is logged.
            catch (Exception e)
#pragma warning restore CA1031
            {
                DataLog.MonitorFailed(_logger, Name, e);
            }
        }
        while (await WaitForNextTickAsync(timer, cancellationToken).ConfigureAwait(false));
    }

    private static async Task<bool> WaitForNextTickAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private async Task<ulong?> ProbePrimaryAsync(CancellationToken cancellationToken)
    {
        try
        {
            var (inRecovery, lsn) = await ProbeAsync(
                _primary,
                PrimaryProbeSql,
                static reader => (reader.GetBoolean(0), reader.IsDBNull(1) ? (ulong?)null : (ulong)reader.GetFieldValue<NpgsqlLogSequenceNumber>(1)),
                cancellationToken).ConfigureAwait(false);
            if (await _primary.MarkAnsweringAsync(closeCircuit: true).ConfigureAwait(false))
            {
                DataLog.ServerAnsweringAgain(_logger, Name, _primary.Name);
            }

            if (inRecovery)
            {
                DataLog.PrimaryInRecovery(_logger, Name, _primary.Name);
            }

            return lsn;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && (TransientErrors.IsConnectionFailure(e) || e is OperationCanceledException))
        {
            DataLog.ProbeFailed(_logger, Name, _primary.Name, e);
            await StoppedAnsweringAsync(_primary, e).ConfigureAwait(false);
            return null;
        }
    }

    /// <summary>
    /// Runs one probe query on a server (on its own small pool, not through its breaker), bounded by
    /// <see cref="ScalingDataOptions.HealthCheckTimeout"/> however the server misbehaves: a probe that does not finish
    /// in time is abandoned, and the server is not probed again until that abandoned probe has ended.
    /// </summary>
    private async Task<T> ProbeAsync<T>(DataServer server, string sql, Func<NpgsqlDataReader, T> read, CancellationToken cancellationToken)
    {
        if (server.AbandonedProbe is { IsCompleted: false })
        {
            throw new TimeoutException($"The server {server.Name} has not answered an earlier health probe yet.");
        }

        // Not cancelled when it times out: Npgsql cancels by sending a cancel request and waiting for the server to
        // hang up, which a paused server never does. The probe pool's own command timeout ends it instead.
        var probe = RunProbeAsync(server.ProbeDataSource, sql, read, cancellationToken);
        try
        {
            return await probe.WaitAsync(_options.HealthCheckTimeout, _timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException) when (!probe.IsCompleted)
        {
            server.AbandonedProbe = probe.ContinueWith(
                static t => _ = t.Exception,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            throw new TimeoutException(string.Create(
                CultureInfo.InvariantCulture,
                $"The server {server.Name} did not answer its health probe within {_options.HealthCheckTimeout.TotalMilliseconds:0} ms (ScalingDataOptions.HealthCheckTimeout)."));
        }
    }

    private static async Task<T> RunProbeAsync<T>(NpgsqlDataSource dataSource, string sql, Func<NpgsqlDataReader, T> read, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var connectionLifetime = connection.ConfigureAwait(false);
        using var command = new NpgsqlCommand(sql, connection);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerLifetime = reader.ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return read(reader);
    }

    private async Task CheckReplicaAsync(DataServer replica, ulong? primaryLsn, CancellationToken cancellationToken)
    {
        bool inRecovery;
        ulong? replay;
        double lagSeconds;
        try
        {
            (inRecovery, replay, lagSeconds) = await ProbeAsync(
                replica,
                ProbeSql,
                static reader => (reader.GetBoolean(0), reader.IsDBNull(1) ? (ulong?)null : (ulong)reader.GetFieldValue<NpgsqlLogSequenceNumber>(1), reader.GetDouble(2)),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && (TransientErrors.IsConnectionFailure(e) || e is OperationCanceledException))
        {
            DataLog.ProbeFailed(_logger, Name, replica.Name, e);
            replica.LastChecked = _timeProvider.GetUtcNow();
            replica.LagBytes = null;
            replica.LagTime = null;
            Eject(replica, "unreachable", $"unreachable: {e.Message}");
            await StoppedAnsweringAsync(replica, e).ConfigureAwait(false);

            // Connections pooled before the failure are dead; drop them so readmission starts clean.
            replica.DataSource.Clear();
            return;
        }

        replica.LastChecked = _timeProvider.GetUtcNow();
        replica.InRecovery = inRecovery;
        if (await replica.MarkAnsweringAsync(closeCircuit: false).ConfigureAwait(false))
        {
            DataLog.ServerAnsweringAgain(_logger, Name, replica.Name);
        }

        if (!inRecovery)
        {
            replica.LagBytes = null;
            replica.LagTime = null;
            Eject(replica, "not_in_recovery", "not in recovery: the server is a primary (promoted, or misconfigured) and no longer follows this data source's primary");
            return;
        }

        if (replay is { } replayed)
        {
            replica.ObserveReplayLsn(replayed);
        }

        var lagBytes = primaryLsn is { } p && replay is { } r ? (long)(p > r ? p - r : 0) : (long?)null;
        // The time lag is "now minus the last replayed commit", which only means lag while WAL is waiting to be replayed.
        // A replica that has replayed all the primary had written is not behind, however old its last commit: a restarted
        // replica of an idle primary would otherwise report a lag that grows for as long as nobody writes (and stay ejected).
        var lagTime = lagBytes == 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Max(0, lagSeconds));
        replica.LagBytes = lagBytes;
        replica.LagTime = lagTime;

        var overBytes = lagBytes > _options.MaxReplicaLagBytes;
        var overTime = lagTime > _options.MaxReplicaLagTime;
        if (replica.Health != ReplicaHealth.Ejected)
        {
            if (overBytes || overTime)
            {
                Eject(replica, "lag", string.Create(
                    CultureInfo.InvariantCulture,
                    $"replication lag {lagBytes?.ToString(CultureInfo.InvariantCulture) ?? "unknown"} bytes / {lagTime.TotalMilliseconds:0} ms is over the limit of {_options.MaxReplicaLagBytes} bytes / {_options.MaxReplicaLagTime.TotalMilliseconds:0} ms"));
            }
            else
            {
                replica.Health = ReplicaHealth.Healthy;
                replica.Reason = null;
            }

            return;
        }

        var healthy = (lagBytes ?? 0) <= _options.MaxReplicaLagBytes * _options.ReadmitLagRatio
            && lagTime <= _options.MaxReplicaLagTime * _options.ReadmitLagRatio;
        replica.HealthyStreak = healthy ? replica.HealthyStreak + 1 : 0;
        if (replica.HealthyStreak >= _options.ReadmitAfterHealthyChecks)
        {
            await replica.CloseCircuitAsync().ConfigureAwait(false);
            replica.Reason = null;
            replica.HealthyStreak = 0;
            replica.Health = ReplicaHealth.Healthy;
            _instruments.Readmissions.Add(1, DataInstruments.Tags(Name, "replica", replica.Name));
            DataLog.ReplicaReadmitted(_logger, Name, replica.Name, lagBytes ?? 0, lagTime.TotalMilliseconds);
        }
    }

    /// <summary>
    /// A probe that timed out (the server is connected but silent: paused, partitioned, stuck) marks the server as not
    /// answering: its in-flight work is cancelled and new work fails fast, instead of each waiting for its command
    /// timeout. A refused or lost connection already fails fast, so only a timeout does this.
    /// </summary>
    private async ValueTask StoppedAnsweringAsync(DataServer server, Exception failure)
    {
        if (failure is TimeoutException or OperationCanceledException && !server.NotAnswering)
        {
            DataLog.ServerNotAnswering(_logger, Name, server.Name, _options.HealthCheckTimeout.TotalMilliseconds);
            await server.MarkNotAnsweringAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Takes the replica out of read routing with <paramref name="reason"/>; an already ejected replica only gets the
    /// new reason (it is counted and logged once per ejection).
    /// </summary>
    private void Eject(DataServer replica, string kind, string reason)
    {
        replica.Reason = reason;
        replica.HealthyStreak = 0;
        if (replica.Health == ReplicaHealth.Ejected)
        {
            return;
        }

        replica.Health = ReplicaHealth.Ejected;
        _instruments.Ejections.Add(1, new System.Diagnostics.TagList { { "data_source", Name }, { "replica", replica.Name }, { "reason", kind } });
        DataLog.ReplicaEjected(_logger, Name, replica.Name, reason);
    }
}
