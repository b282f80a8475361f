using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace Scaling.Tenancy.Migrations;

/// <summary>
/// Loads <see cref="SqlMigration"/>s from a folder of <c>.sql</c> files or from an assembly's embedded resources, and
/// checks a set built in code. Every result is sorted by version and free of duplicate versions.
/// </summary>
/// <remarks>
/// <para>
/// A file is named <c>{version}_{name}.sql</c>, e.g. <c>0001_create_bookings.sql</c> (version 1, name
/// <c>create_bookings</c>): the version is decimal digits (leading zeros allowed), the name letters, digits,
/// <c>_</c> and <c>-</c>.
/// </para>
/// <para>
/// The scope comes from the sub-folder the file is in — <c>shards/</c>, <c>metadata/</c> or <c>all/</c> — or, for a
/// file directly in the folder, from a <c>-- scaling: scope=shards|metadata|all</c> directive in its leading comment
/// lines. A file with neither is an error: the scope is never guessed. A directive in a scope folder must agree
/// with the folder. <c>.sql</c> files in any other sub-folder are an error; other files are ignored.
/// </para>
/// </remarks>
public static partial class SqlMigrationLoader
{
    private static readonly string[] ScopeFolders = ["shards", "metadata", "all"];

    /// <summary>Loads the migrations in <paramref name="directory"/> and its <c>shards/</c>, <c>metadata/</c> and <c>all/</c> sub-folders.</summary>
    /// <param name="directory">The folder.</param>
    /// <param name="cancellationToken">Cancels the reading.</param>
    /// <returns>The migrations, by version (empty when the folder has no <c>.sql</c> file).</returns>
    /// <exception cref="MigrationLoadException">The folder does not exist, or a file is invalid (the message names it), or two files have the same version (it names both).</exception>
    public static async Task<IReadOnlyList<SqlMigration>> FromDirectoryAsync(string directory, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
        {
            throw new MigrationLoadException(directory, $"The migrations folder '{directory}' does not exist.", null);
        }

        var migrations = new List<SqlMigration>();
        foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (!file.EndsWith(".sql", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var relative = Path.GetRelativePath(directory, file);
            var folder = Path.GetDirectoryName(relative);
            MigrationScope? folderScope = null;
            if (!string.IsNullOrEmpty(folder))
            {
                if (!ScopeFolders.Contains(folder, StringComparer.OrdinalIgnoreCase) || !SqlMigration.TryParseScope(folder, out var parsed))
                {
                    throw new MigrationLoadException(file, $"The migration file '{file}' is in the folder '{folder}': put migrations directly in '{directory}' or in its 'shards', 'metadata' or 'all' sub-folder.", null);
                }

                folderScope = parsed;
            }

            var sql = await File.ReadAllTextAsync(file, Encoding.UTF8, cancellationToken).ConfigureAwait(false);
            migrations.Add(Create(Path.GetFileName(file), file, folderScope, sql));
        }

        return Checked(migrations);
    }

    /// <summary>
    /// Loads the migrations embedded in <paramref name="assembly"/> (<c>&lt;EmbeddedResource Include="Migrations/**/*.sql" /&gt;</c>)
    /// whose resource names start with <paramref name="resourcePrefix"/>, e.g. <c>MyApp.Migrations.</c>; the resource
    /// name's last segment before <c>.sql</c> is the file name, the one before it a scope folder (<c>shards</c>,
    /// <c>metadata</c>, <c>all</c>) when it is one.
    /// </summary>
    /// <param name="assembly">The assembly.</param>
    /// <param name="resourcePrefix">The prefix of the resource names (usually the project's root namespace plus the folder, with a trailing dot).</param>
    /// <param name="cancellationToken">Cancels the reading.</param>
    /// <returns>The migrations, by version.</returns>
    /// <exception cref="MigrationLoadException">
    /// No <c>.sql</c> resource has the prefix (usually the files are not marked as embedded resources, or the prefix is
    /// wrong), a resource is invalid (the message names it), or two have the same version.
    /// </exception>
    public static async Task<IReadOnlyList<SqlMigration>> FromEmbeddedResourcesAsync(Assembly assembly, string resourcePrefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        ArgumentNullException.ThrowIfNull(resourcePrefix);
        var names = assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(resourcePrefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (names.Count == 0)
        {
            throw new MigrationLoadException(resourcePrefix,
                $"The assembly {assembly.GetName().Name} has no embedded .sql resource whose name starts with {DisplayText.Quote(resourcePrefix)}: mark the files <EmbeddedResource> or fix the prefix (its resources: {string.Join(", ", assembly.GetManifestResourceNames().Take(10))}).",
                null);
        }

        var resources = new List<(string Name, string Sql)>();
        foreach (var name in names)
        {
            var stream = assembly.GetManifestResourceStream(name)
                ?? throw new MigrationLoadException(name, $"The embedded resource '{name}' could not be opened.", null);
            await using var streamLifetime = stream.ConfigureAwait(false);
            using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            resources.Add((name, await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false)));
        }

        return FromResources(resources, resourcePrefix);
    }

    /// <summary>Checks a set of migrations built in code and sorts it by version.</summary>
    /// <param name="migrations">The migrations.</param>
    /// <returns>The migrations, by version.</returns>
    /// <exception cref="MigrationLoadException">Two migrations have the same version (the message names both).</exception>
    public static IReadOnlyList<SqlMigration> FromCode(IEnumerable<SqlMigration> migrations)
    {
        ArgumentNullException.ThrowIfNull(migrations);
        return Checked(migrations.Select(m => m ?? throw new ArgumentException("The set contains a null migration.", nameof(migrations))).ToList());
    }

    /// <summary>Loads migrations from (resource name, text) pairs as <see cref="FromEmbeddedResourcesAsync"/> does.</summary>
    internal static IReadOnlyList<SqlMigration> FromResources(IEnumerable<(string Name, string Sql)> resources, string resourcePrefix)
    {
        var migrations = new List<SqlMigration>();
        foreach (var (name, sql) in resources)
        {
            // "Prefix.shards.0001_create_bookings.sql" → segments [..., "shards", "0001_create_bookings"].
            var segments = name[resourcePrefix.Length..^".sql".Length].Split('.');
            MigrationScope? folderScope = null;
            if (segments.Length >= 2)
            {
                if (SqlMigration.TryParseScope(segments[^2], out var parsed))
                {
                    folderScope = parsed;
                }
                else
                {
                    throw new MigrationLoadException(name, $"The embedded migration '{name}' is in the folder '{segments[^2]}': put migrations directly under {DisplayText.Quote(resourcePrefix)} or in its 'shards', 'metadata' or 'all' sub-folder.", null);
                }
            }

            migrations.Add(Create(segments[^1] + ".sql", name, folderScope, sql));
        }

        return Checked(migrations);
    }

    private static SqlMigration Create(string fileName, string origin, MigrationScope? folderScope, string sql)
    {
        var match = FileNamePattern().Match(fileName);
        if (!match.Success)
        {
            throw new MigrationLoadException(origin,
                $"The migration file name '{origin}' is not '{{version}}_{{name}}.sql' (e.g. '0001_create_bookings.sql': the version in digits, the name letters, digits, '_' and '-').",
                null);
        }

        if (!long.TryParse(match.Groups["version"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var version) || version <= 0)
        {
            throw new MigrationLoadException(origin, $"The migration '{origin}' has version {match.Groups["version"].Value}: a version must be between 1 and {long.MaxValue}.", null);
        }

        var name = match.Groups["name"].Value;
        try
        {
            var declared = SqlMigration.ReadDirectives(sql, version, name, $" ({origin})").Scope;
            var scope = folderScope ?? declared ?? throw new MigrationLoadException(origin,
                $"The migration '{origin}' has no scope: put it in a 'shards', 'metadata' or 'all' sub-folder, or start it with '-- scaling: scope=shards' (or metadata, all).",
                null);
            return new SqlMigration(version, name, scope, sql, origin);
        }
        catch (ArgumentException e)
        {
            throw new MigrationLoadException(origin, e.Message.Split(" (Parameter", 2)[0], e);
        }
    }

    private static List<SqlMigration> Checked(List<SqlMigration> migrations)
    {
        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 1; i < migrations.Count; i++)
        {
            if (migrations[i].Version == migrations[i - 1].Version)
            {
                var first = migrations[i - 1];
                var second = migrations[i];
                throw new MigrationLoadException(second.Origin ?? first.Origin,
                    string.Create(CultureInfo.InvariantCulture,
                        $"Two migrations have version {second.Version}: {Where(first)} and {Where(second)}. Versions must be unique across shards, metadata and all."),
                    null);
            }
        }

        return migrations;

        static string Where(SqlMigration m) => m.Origin is null ? m.ToString() : $"{m} in '{m.Origin}'";
    }

    [GeneratedRegex(@"^(?<version>[0-9]{1,19})_(?<name>[A-Za-z0-9][A-Za-z0-9_\-]*)\.sql$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex FileNamePattern();
}
