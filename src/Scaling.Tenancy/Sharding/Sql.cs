using System.Text;

namespace Scaling.Tenancy.Sharding;

/// <summary>Quoting of SQL identifiers and literals for the few statements that cannot take parameters (DDL, COPY).</summary>
internal static class Sql
{
    /// <summary>Quotes one identifier (<c>"a""b"</c>).</summary>
    internal static string Identifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>Quotes a possibly schema-qualified name given as <c>schema.table</c> or <c>table</c>.</summary>
    internal static string QualifiedName(string name)
    {
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? Identifier(name) : Identifier(name[..dot]) + "." + Identifier(name[(dot + 1)..]);
    }

    /// <summary>Quotes a string literal (standard_conforming_strings is on in every supported PostgreSQL).</summary>
    internal static string Literal(string value)
    {
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A SQL literal cannot contain a NUL character.", nameof(value));
        }

        return "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
    }

    /// <summary>A comma-separated list of quoted identifiers.</summary>
    internal static string List(IEnumerable<string> names)
    {
        var builder = new StringBuilder();
        foreach (var name in names)
        {
            if (builder.Length > 0)
            {
                builder.Append(", ");
            }

            builder.Append(Identifier(name));
        }

        return builder.ToString();
    }
}
