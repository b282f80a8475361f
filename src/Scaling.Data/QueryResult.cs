namespace Scaling.Data;

/// <summary>The buffered result of <see cref="ReadWriteDataSource.QueryAsync"/>.</summary>
public sealed class QueryResult
{
    internal QueryResult(IReadOnlyList<string> columns, IReadOnlyList<object?[]> rows, int rowsAffected, ServerRole servedBy, ConsistencyToken? token)
    {
        Columns = columns;
        Rows = rows;
        RowsAffected = rowsAffected;
        ServedBy = servedBy;
        Token = token;
    }

    /// <summary>The column names of the result set (empty for a statement that returns no rows).</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>The rows, each an array of column values in <see cref="Columns"/> order (<see cref="DBNull"/> becomes <see langword="null"/>).</summary>
    public IReadOnlyList<object?[]> Rows { get; }

    /// <summary>The number of rows inserted, updated or deleted, or -1 for a query.</summary>
    public int RowsAffected { get; }

    /// <summary>The role of the server that ran the statement.</summary>
    public ServerRole ServedBy { get; }

    /// <summary>For a write, the consistency token after its commit (see <see cref="WriteResult{T}.Token"/>); <see langword="null"/> for a read.</summary>
    public ConsistencyToken? Token { get; }
}
