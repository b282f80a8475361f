using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Scaling.Tenancy.Migrations;

/// <summary>
/// One versioned SQL migration: a script applied once to each target its <see cref="Scope"/> covers, in version order.
/// </summary>
/// <remarks>
/// <para>
/// The script runs in its own transaction together with the insert of its history row, so it is applied completely or
/// not at all. A script that cannot run inside a transaction (e.g. <c>CREATE INDEX CONCURRENTLY</c>) opts out with the
/// directive <c>-- scaling: no-transaction</c> in its leading comment lines; it then runs as sent, and its history row
/// is written after it succeeded (keep such a migration to one statement: if it fails half-way nothing is rolled back).
/// </para>
/// <para>
/// Directives are comment lines <c>-- scaling: …</c> among the script's leading comment and blank lines:
/// <c>no-transaction</c> and <c>scope=shards|metadata|all</c> (the latter must agree with <see cref="Scope"/>).
/// An unknown directive is an error, so a typo never silently changes how a migration runs.
/// </para>
/// </remarks>
public sealed class SqlMigration
{
    /// <summary>The longest <see cref="Name"/> accepted.</summary>
    public const int MaxNameLength = 200;

    private const string DirectivePrefix = "scaling:";

    /// <summary>Creates a migration.</summary>
    /// <param name="version">The version, greater than zero; migrations apply in ascending version order, and versions are unique across scopes.</param>
    /// <param name="name">A short description, e.g. <c>create_bookings</c> (1 to 200 characters, no control characters).</param>
    /// <param name="scope">The databases it applies to.</param>
    /// <param name="sql">The script; it may hold several statements and leading <c>-- scaling:</c> directives.</param>
    /// <param name="origin">Where it was loaded from (a file path or resource name), for error messages; <see langword="null"/> when built in code.</param>
    /// <exception cref="ArgumentException">A value is out of range, the script is empty, a directive is unknown, or a <c>scope=</c> directive disagrees with <paramref name="scope"/>.</exception>
    public SqlMigration(long version, string name, MigrationScope scope, string sql, string? origin = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(sql);
        var where = origin is null ? string.Empty : $" ({origin})";
        if (version <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(version), version, string.Create(CultureInfo.InvariantCulture, $"A migration version must be greater than zero (was {version}){where}."));
        }

        if (name.Length is 0 or > MaxNameLength || string.IsNullOrWhiteSpace(name) || name.Any(char.IsControl))
        {
            throw new ArgumentException($"The name of migration {version.ToString(CultureInfo.InvariantCulture)}{where} must be 1 to {MaxNameLength} characters without control characters (was {DisplayText.Quote(name)}).", nameof(name));
        }

        if (scope is not (MigrationScope.Shards or MigrationScope.Metadata or MigrationScope.All))
        {
            throw new ArgumentOutOfRangeException(nameof(scope), scope, $"Migration {Describe(version, name)}{where}: the scope must be Shards, Metadata or All.");
        }

        if (sql.Length > 0 && sql[0] == '\uFEFF')
        {
            sql = sql[1..];
        }

        if (string.IsNullOrWhiteSpace(sql))
        {
            throw new ArgumentException($"Migration {Describe(version, name)}{where} has no SQL.", nameof(sql));
        }

        var directives = ReadDirectives(sql, version, name, where);
        if (directives.Scope is { } declared && declared != scope)
        {
            throw new ArgumentException($"Migration {Describe(version, name)}{where} declares scope={ScopeText(declared)} but is given scope {ScopeText(scope)}.", nameof(sql));
        }

        Version = version;
        Name = name;
        Scope = scope;
        Sql = sql;
        Origin = origin;
        Transactional = !directives.NoTransaction;
        Checksum = ComputeChecksum(sql);
    }

    /// <summary>The version; migrations apply in ascending order.</summary>
    public long Version { get; }

    /// <summary>The short description.</summary>
    public string Name { get; }

    /// <summary>The databases it applies to.</summary>
    public MigrationScope Scope { get; }

    /// <summary>The script as given (without a leading byte order mark).</summary>
    public string Sql { get; }

    /// <summary>Where it was loaded from (file path or resource name), or <see langword="null"/> when built in code.</summary>
    public string? Origin { get; }

    /// <summary>
    /// Whether the script runs in a transaction with its history row (the default); <see langword="false"/> when it
    /// carries the <c>-- scaling: no-transaction</c> directive.
    /// </summary>
    public bool Transactional { get; }

    /// <summary>
    /// The SHA-256 of the normalized script, as 64 lowercase hex digits. Normalization: line endings become <c>\n</c>,
    /// trailing spaces and tabs of each line and trailing empty lines are removed — so a checkout with other line
    /// endings or an editor that trims whitespace does not count as a change, while any other edit does.
    /// </summary>
    public string Checksum { get; }

    /// <summary>The text used in messages: <c>3 'create_bookings'</c>.</summary>
    /// <returns>The version and quoted name.</returns>
    public override string ToString() => Describe(Version, Name);

    /// <summary>Computes the checksum of a script as <see cref="Checksum"/> describes.</summary>
    /// <param name="sql">The script.</param>
    /// <returns>64 lowercase hex digits.</returns>
    public static string ComputeChecksum(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        var normalized = new StringBuilder(sql.Length);
        var lines = sql.TrimStart('\uFEFF').ReplaceLineEndings("\n").Split('\n');
        var last = lines.Length - 1;
        while (last >= 0 && lines[last].TrimEnd(' ', '\t').Length == 0)
        {
            last--;
        }

        for (var i = 0; i <= last; i++)
        {
            normalized.Append(lines[i].TrimEnd(' ', '\t')).Append('\n');
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(normalized.ToString())));
    }

    internal static string Describe(long version, string name) =>
        string.Create(CultureInfo.InvariantCulture, $"{version} {DisplayText.Quote(name)}");

    internal static string ScopeText(MigrationScope scope) => scope switch
    {
        MigrationScope.Shards => "shards",
        MigrationScope.Metadata => "metadata",
        MigrationScope.All => "all",
        _ => scope.ToString(),
    };

    internal static bool TryParseScope(string text, out MigrationScope scope)
    {
        switch (text.ToUpperInvariant())
        {
            case "SHARDS":
                scope = MigrationScope.Shards;
                return true;
            case "METADATA":
                scope = MigrationScope.Metadata;
                return true;
            case "ALL":
                scope = MigrationScope.All;
                return true;
            default:
                scope = default;
                return false;
        }
    }

    /// <summary>Reads the <c>-- scaling:</c> directives among the leading comment and blank lines.</summary>
    internal static (bool NoTransaction, MigrationScope? Scope) ReadDirectives(string sql, long version, string name, string where)
    {
        var noTransaction = false;
        MigrationScope? scope = null;
        foreach (var rawLine in sql.TrimStart('\uFEFF').ReplaceLineEndings("\n").Split('\n'))
        {
            var line = rawLine.Trim();
            if (line.Length == 0)
            {
                continue;
            }

            if (!line.StartsWith("--", StringComparison.Ordinal))
            {
                break;
            }

            var comment = line[2..].Trim();
            if (!comment.StartsWith(DirectivePrefix, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            foreach (var token in comment[DirectivePrefix.Length..].Split([' ', '\t', ','], StringSplitOptions.RemoveEmptyEntries))
            {
                if (token.Equals("no-transaction", StringComparison.OrdinalIgnoreCase))
                {
                    noTransaction = true;
                }
                else if (token.StartsWith("scope=", StringComparison.OrdinalIgnoreCase) && TryParseScope(token["scope=".Length..], out var parsed))
                {
                    scope = parsed;
                }
                else
                {
                    throw new ArgumentException(
                        $"Migration {Describe(version, name)}{where} has an unknown directive {DisplayText.Quote(token)} in {DisplayText.Quote(line)}: known are 'no-transaction' and 'scope=shards|metadata|all'.",
                        nameof(sql));
                }
            }
        }

        return (noTransaction, scope);
    }
}
