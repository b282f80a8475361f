using System.Globalization;

namespace Scaling.Data.Partitions;

/// <summary>
/// A table partitioned by month (<c>PARTITION BY RANGE (column)</c> on a <c>date</c>, <c>timestamp</c> or
/// <c>timestamptz</c> column) whose partitions <see cref="PartitionMaintainer"/> keeps: one per calendar month
/// (UTC), named <c>{table}_pYYYYMM</c>.
/// </summary>
public sealed class PartitionedTable
{
    private const int MaxTableNameLength = 55; // 63-byte identifiers minus the "_pYYYYMM" suffix

    /// <summary>Declares a partitioned table.</summary>
    /// <param name="name">The table, as <c>table</c> or <c>schema.table</c>: lowercase letters, digits and <c>_</c>, not starting with a digit; the table name at most 55 characters.</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not such a name.</exception>
    public PartitionedTable(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var parts = name.Split('.');
        if (parts.Length > 2 || !parts.All(IsIdentifier) || parts[^1].Length > MaxTableNameLength)
        {
            throw new ArgumentException(
                $"The partitioned table name {DisplayText.Quote(name)} is not valid: use 'table' or 'schema.table' with lowercase letters, digits and '_', not starting with a digit, the table name at most {MaxTableNameLength} characters.",
                nameof(name));
        }

        Schema = parts.Length == 2 ? parts[0] : null;
        Table = parts[^1];
        Name = name;
    }

    /// <summary>The name as given.</summary>
    public string Name { get; }

    /// <summary>The schema, or <see langword="null"/> for the search path's.</summary>
    public string? Schema { get; }

    /// <summary>The table name without the schema.</summary>
    public string Table { get; }

    /// <summary>
    /// How many months after the current one must have a partition (the current month always has one).
    /// 0 to 120; default 3.
    /// </summary>
    public int MonthsAhead
    {
        get;
        init => field = value is >= 0 and <= 120
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, string.Create(CultureInfo.InvariantCulture, $"{nameof(MonthsAhead)} of {Name} must be between 0 and 120 (was {value})."));
    } = 3;

    /// <summary>
    /// How many whole months before the current one are kept; older partitions are detached (see
    /// <see cref="DropDetached"/>). <see langword="null"/> keeps every partition. 1 to 1200 when set.
    /// </summary>
    public int? RetentionMonths
    {
        get;
        init => field = value is null or (>= 1 and <= 1200)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, string.Create(CultureInfo.InvariantCulture, $"{nameof(RetentionMonths)} of {Name} must be between 1 and 1200, or null to keep everything (was {value})."));
    }

    /// <summary>Whether partitions past retention are dropped after being detached (default: detached only, kept as plain tables).</summary>
    public bool DropDetached { get; init; }

    /// <summary>The quoted, schema-qualified name for SQL.</summary>
    internal string QualifiedName => Schema is null ? Quote(Table) : $"{Quote(Schema)}.{Quote(Table)}";

    /// <summary>The name of the partition for a month.</summary>
    internal string PartitionName(int year, int month) => string.Create(CultureInfo.InvariantCulture, $"{Table}_p{year:0000}{month:00}");

    /// <summary>The quoted, schema-qualified name of a partition.</summary>
    internal string QualifiedPartitionName(string partition) => Schema is null ? Quote(partition) : $"{Quote(Schema)}.{Quote(partition)}";

    /// <inheritdoc />
    public override string ToString() => Name;

    private static string Quote(string identifier) => "\"" + identifier + "\"";

    private static bool IsIdentifier(string part)
        => part.Length is > 0 and <= 63
            && (char.IsAsciiLetterLower(part[0]) || part[0] == '_')
            && part.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_');
}
