using NpgsqlTypes;

namespace Scaling.Data;

/// <summary>A snapshot of one replica as the health monitor last saw it.</summary>
/// <param name="Name">The replica's name (<c>host:port</c>).</param>
/// <param name="Health">Whether it takes reads.</param>
/// <param name="InRecovery">What <c>pg_is_in_recovery()</c> returned; <see langword="null"/> when never reached.</param>
/// <param name="ReplayLsn">The highest replay position seen (<c>pg_last_wal_replay_lsn()</c>).</param>
/// <param name="LagBytes">WAL bytes between the primary's insert position and the replay position at the last check; <see langword="null"/> when unknown.</param>
/// <param name="LagTime">Replay delay at the last check; <see langword="null"/> when unknown.</param>
/// <param name="CircuitOpen">Whether the replica's circuit breaker is open (connection failures).</param>
/// <param name="Reason">Why it was ejected, or <see langword="null"/>.</param>
/// <param name="LastChecked">When it was last checked, or <see langword="null"/>.</param>
public sealed record ReplicaStatus(
    string Name,
    ReplicaHealth Health,
    bool? InRecovery,
    NpgsqlLogSequenceNumber ReplayLsn,
    long? LagBytes,
    TimeSpan? LagTime,
    bool CircuitOpen,
    string? Reason,
    DateTimeOffset? LastChecked);
