using System.Text;
using System.Text.RegularExpressions;

namespace BookingHost.Tests;

/// <summary>
/// BookingHost's layout, checked on its source (samples/BookingHost): each top-level folder is an area whose
/// namespace is <c>BookingHost.{Folder}</c>; areas depend on each other only in the direction the README's "Layout"
/// section documents (<see cref="Allowed"/>), so there is no cycle; endpoint files hold no SQL; the domain holds no
/// HTTP; and the tenant of cache keys and lock resources is the one tenant resolution produced.
/// </summary>
public sealed partial class ArchitectureTests
{
    /// <summary>What each area may use (the README's "Layout" table). Program.cs, the composition root, may use every area.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new(StringComparer.Ordinal)
    {
        ["Infrastructure"] = [],
        ["Reminders"] = ["Infrastructure"],
        ["Idempotency"] = ["Infrastructure"],
        ["Health"] = ["Infrastructure"],
        ["Domain"] = ["Reminders", "Infrastructure"],
        ["Auth"] = ["Idempotency", "Infrastructure"],
        ["Observability"] = ["Auth", "Infrastructure"],
        ["Realtime"] = ["Auth", "Infrastructure"],
        ["Api"] = ["Domain", "Auth", "Idempotency", "Realtime", "Reminders", "Infrastructure"],
        ["Demo"] = ["Domain", "Auth", "Infrastructure"],
        ["Composition"] = ["Api", "Demo", "Domain", "Auth", "Idempotency", "Realtime", "Reminders", "Observability", "Health", "Infrastructure"],
    };

    private static readonly Lazy<List<SourceFile>> Sources = new(LoadSources);

    [Fact]
    public void Every_file_is_in_the_namespace_of_its_folder_and_every_folder_is_a_known_area()
    {
        var wrong = new List<string>();
        foreach (var file in Sources.Value)
        {
            if (file.Area is null)
            {
                if (file.Namespace is not null)
                {
                    wrong.Add($"{file.Path}: the root holds only Program.cs (global namespace), not namespace {file.Namespace}");
                }

                continue;
            }

            if (!Allowed.ContainsKey(file.Area))
            {
                wrong.Add($"{file.Path}: '{file.Area}' is not an area of the README's Layout table");
            }

            if (file.Namespace != "BookingHost." + file.Area)
            {
                wrong.Add($"{file.Path}: namespace {file.Namespace ?? "(none)"}, expected BookingHost.{file.Area}");
            }
        }

        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    [Fact]
    public void Areas_depend_on_each_other_only_in_the_documented_direction()
    {
        var graph = AreaGraph(Sources.Value);
        var violations = graph
            .SelectMany(e => e.Value.Select(to => (From: e.Key, To: to)))
            .Where(d => !Allowed.TryGetValue(d.From, out var allowed) || !allowed.Contains(d.To))
            .Select(d => $"{d.From} -> {d.To} (in {string.Join(", ", Sources.Value.Where(f => f.Area == d.From && f.References.Contains(d.To)).Select(f => f.Path))})")
            .ToList();

        Assert.True(violations.Count == 0, "Dependencies the README's Layout does not allow:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void The_area_graph_has_no_cycle()
    {
        var cycle = FindCycle(AreaGraph(Sources.Value));

        Assert.True(cycle is null, "A cycle between areas: " + (cycle is null ? string.Empty : string.Join(" -> ", cycle)));
    }

    [Fact]
    public void The_documented_direction_itself_has_no_cycle()
    {
        var allowed = Allowed.ToDictionary(e => e.Key, e => (ISet<string>)e.Value.ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);

        Assert.Null(FindCycle(allowed));
    }

    [Fact]
    public void The_cycle_check_finds_a_cycle()
    {
        // The check of the real graph above is only as good as this: a known cycle is found and named.
        var graph = new Dictionary<string, ISet<string>>(StringComparer.Ordinal)
        {
            ["Api"] = new HashSet<string> { "Domain" },
            ["Domain"] = new HashSet<string> { "Infrastructure" },
            ["Infrastructure"] = new HashSet<string> { "Api" },
        };

        Assert.Equal(["Api", "Domain", "Infrastructure", "Api"], FindCycle(graph));

        // References are read from usings and qualified names, not from the namespace declaration, strings or comments.
        var file = Parse("Idempotency/X.cs", "using BookingHost.Infrastructure;\nnamespace BookingHost.Idempotency;\n// BookingHost.Domain\nclass X { BookingHost.Auth.Y y; string s = \"BookingHost.Api\"; }");
        Assert.Equal(["Auth", "Infrastructure"], file.References.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Endpoint_files_hold_no_sql()
    {
        var offenders = new List<string>();
        foreach (var file in Sources.Value.Where(f => System.IO.Path.GetFileName(f.Path).Contains("Endpoint", StringComparison.Ordinal)))
        {
            foreach (var literal in file.Literals)
            {
                if (SqlKeyword().IsMatch(literal))
                {
                    offenders.Add($"{file.Path}: \"{literal[..Math.Min(60, literal.Length)]}\"");
                }
            }

            if (NpgsqlUse().IsMatch(file.Code))
            {
                offenders.Add($"{file.Path}: runs Npgsql commands itself");
            }
        }

        Assert.True(offenders.Count == 0, "SQL in endpoint files (it belongs in a store or query of its area):\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void The_domain_holds_no_http()
    {
        var offenders = Sources.Value
            .Where(f => f.Area == "Domain" && HttpType().IsMatch(f.Code))
            .Select(f => $"{f.Path}: {HttpType().Match(f.Code).Value}")
            .ToList();

        Assert.True(offenders.Count == 0, "HTTP in Domain/ (it belongs in Api/):\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void Only_auth_reads_the_tenant_claim_or_header_everything_else_takes_the_resolved_tenant()
    {
        // Cache keys, cache tags and lock resources take the TenantId that Scaling.Tenancy's resolution produced
        // (http.GetRequiredTenant()); only Auth reads the tenant claim, to issue it and to check it against that tenant.
        var offenders = Sources.Value
            .Where(f => f.Area != "Auth" && (f.Code.Contains("BookingClaims.Tenant", StringComparison.Ordinal)
                || f.Literals.Any(s => s.Equals("X-Tenant", StringComparison.OrdinalIgnoreCase))))
            .Select(f => f.Path)
            .ToList();

        Assert.True(offenders.Count == 0, "Reads the tenant from a claim or header instead of the resolved tenant:\n" + string.Join("\n", offenders));
    }

    private static Dictionary<string, ISet<string>> AreaGraph(IEnumerable<SourceFile> files)
    {
        var graph = new Dictionary<string, ISet<string>>(StringComparer.Ordinal);
        foreach (var file in files.Where(f => f.Area is not null))
        {
            if (!graph.TryGetValue(file.Area!, out var to))
            {
                graph[file.Area!] = to = new HashSet<string>(StringComparer.Ordinal);
            }

            to.UnionWith(file.References.Where(r => r != file.Area));
        }

        return graph;
    }

    /// <summary>A cycle as its areas in order (the first repeated at the end), or <see langword="null"/>.</summary>
    private static List<string>? FindCycle(IReadOnlyDictionary<string, ISet<string>> graph)
    {
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1: on the path, 2: done
        var path = new List<string>();

        List<string>? Visit(string node)
        {
            state[node] = 1;
            path.Add(node);
            foreach (var next in graph.TryGetValue(node, out var edges) ? edges.Order(StringComparer.Ordinal) : Enumerable.Empty<string>())
            {
                if (state.GetValueOrDefault(next) == 1)
                {
                    return [.. path.SkipWhile(n => n != next), next];
                }

                if (state.GetValueOrDefault(next) == 0 && Visit(next) is { } found)
                {
                    return found;
                }
            }

            path.RemoveAt(path.Count - 1);
            state[node] = 2;
            return null;
        }

        foreach (var node in graph.Keys.Order(StringComparer.Ordinal))
        {
            if (state.GetValueOrDefault(node) == 0 && Visit(node) is { } cycle)
            {
                return cycle;
            }
        }

        return null;
    }

    private static List<SourceFile> LoadSources()
    {
        var root = System.IO.Path.Combine(Observability.RepositoryFiles.Root, "samples", "BookingHost");
        var files = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Select(p => System.IO.Path.GetRelativePath(root, p).Replace('\\', '/'))
            .Where(p => !p.StartsWith("bin/", StringComparison.Ordinal) && !p.StartsWith("obj/", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(p => Parse(p, File.ReadAllText(System.IO.Path.Combine(root, p))))
            .ToList();
        Assert.True(files.Count > 50, $"Only {files.Count} source files found under {root}");
        return files;
    }

    private static SourceFile Parse(string path, string text)
    {
        var (code, literals) = StripCommentsAndStrings(text);
        var area = path.Contains('/', StringComparison.Ordinal) ? path[..path.IndexOf('/', StringComparison.Ordinal)] : null;
        var ns = NamespaceDeclaration().Match(code) is { Success: true } m ? m.Groups[1].Value : null;
        var withoutNamespace = NamespaceDeclaration().Replace(code, string.Empty);
        var references = AreaReference().Matches(withoutNamespace).Select(r => r.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        return new SourceFile(path, area, ns, code, literals, references);
    }

    /// <summary>The code with comments removed and string and character literals emptied, and the literals' text.</summary>
    private static (string Code, List<string> Literals) StripCommentsAndStrings(string text)
    {
        var code = new StringBuilder(text.Length);
        var literals = new List<string>();
        var i = 0;
        while (i < text.Length)
        {
            if (text[i] == '/' && i + 1 < text.Length && text[i + 1] == '/')
            {
                while (i < text.Length && text[i] != '\n')
                {
                    i++;
                }
            }
            else if (text[i] == '/' && i + 1 < text.Length && text[i + 1] == '*')
            {
                var end = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = end < 0 ? text.Length : end + 2;
            }
            else if (text[i] == '\'')
            {
                var end = i + 1;
                while (end < text.Length && text[end] != '\'')
                {
                    end += text[end] == '\\' ? 2 : 1;
                }

                code.Append("' '");
                i = end + 1;
            }
            else if (text[i] == '"' || ((text[i] is '$' or '@') && StringStart().IsMatch(text.AsSpan(i, Math.Min(3, text.Length - i)))))
            {
                var start = i;
                while (text[i] is '$' or '@')
                {
                    i++;
                }

                var verbatim = text.AsSpan(start, i - start).Contains('@');
                var quotes = 0;
                while (i + quotes < text.Length && text[i + quotes] == '"')
                {
                    quotes++;
                }

                int contentStart, contentEnd;
                if (quotes >= 3)
                {
                    var fence = new string('"', quotes);
                    contentStart = i + quotes;
                    contentEnd = text.IndexOf(fence, contentStart, StringComparison.Ordinal);
                    i = contentEnd + quotes;
                }
                else
                {
                    contentStart = i + 1;
                    var end = contentStart;
                    while (end < text.Length)
                    {
                        if (verbatim && text[end] == '"' && end + 1 < text.Length && text[end + 1] == '"')
                        {
                            end += 2;
                        }
                        else if (!verbatim && text[end] == '\\')
                        {
                            end += 2;
                        }
                        else if (text[end] == '"')
                        {
                            break;
                        }
                        else
                        {
                            end++;
                        }
                    }

                    contentEnd = end;
                    i = end + 1;
                }

                literals.Add(text[contentStart..contentEnd]);
                code.Append("\"\"");
            }
            else
            {
                code.Append(text[i]);
                i++;
            }
        }

        return (code.ToString(), literals);
    }

    [GeneratedRegex(@"^\s*namespace\s+([\w.]+)", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();

    [GeneratedRegex(@"\bBookingHost\.([A-Z]\w*)\b")]
    private static partial Regex AreaReference();

    [GeneratedRegex("^[$@]{1,2}\"")]
    private static partial Regex StringStart();

    [GeneratedRegex(@"\b(SELECT|INSERT|UPDATE|DELETE|WITH)\s", RegexOptions.None)]
    private static partial Regex SqlKeyword();

    [GeneratedRegex(@"\bNpgsql(Command|Batch|BatchCommand|DataReader|Connection)\b")]
    private static partial Regex NpgsqlUse();

    [GeneratedRegex(@"\b(HttpContext|HttpRequest|HttpResponse|IResult|Results|TypedResults|StatusCodes|IEndpointRouteBuilder|ProblemDetails|CookieOptions)\b")]
    private static partial Regex HttpType();

    private sealed record SourceFile(string Path, string? Area, string? Namespace, string Code, List<string> Literals, HashSet<string> References);
}
