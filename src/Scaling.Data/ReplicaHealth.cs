namespace Scaling.Data;

/// <summary>Where a replica stands in read routing.</summary>
public enum ReplicaHealth
{
    /// <summary>Not checked yet. Reads are routed to it optimistically (reads with a consistency token are not, until its replay position is known).</summary>
    Unknown,

    /// <summary>Checked and within the lag thresholds: it takes reads.</summary>
    Healthy,

    /// <summary>Unreachable, not in recovery, or over a lag threshold: it takes no reads until readmitted.</summary>
    Ejected,
}
