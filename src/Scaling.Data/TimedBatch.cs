using Npgsql;

namespace Scaling.Data;

/// <summary>
/// A batch the package runs and times itself (<see cref="CommandObserver.Record"/>): Npgsql does not trace it, so it
/// does not join the text of the batch's commands for an activity on every run.
/// </summary>
internal sealed class TimedBatch(NpgsqlConnection? connection, NpgsqlTransaction? transaction) : NpgsqlBatch(connection, transaction);
