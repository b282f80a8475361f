using Microsoft.AspNetCore.Http;

namespace Scaling.Tenancy.Resolution;

/// <summary>
/// Reads the tenant identifier from the request's host name with host templates such as <c>{tenant}.example.com</c>:
/// the tenant is the host's leftmost label (<c>acme</c> in <c>acme.example.com</c>).
/// </summary>
/// <remarks>
/// <para>
/// The host is compared case-insensitively: its ASCII letters are lowercased before matching (DNS names are
/// case-insensitive), so <c>ACME.Example.com</c> is tenant <c>acme</c>; no other character is changed (a non-ASCII letter
/// is never folded into an ASCII one, it makes the id malformed). The port and one trailing dot (<c>acme.example.com.</c>)
/// are ignored.
/// </para>
/// <para>
/// The templates are tried in order; a host that matches none of them, or whose part before a template's suffix is
/// not exactly one label (<c>example.com</c>, <c>www.acme.example.com</c> for <c>{tenant}.example.com</c>), is "not
/// applicable", so the next strategy is asked. A single label that is not a tenant id (<c>ac_me.example.com</c>) is a
/// malformed candidate (400).
/// </para>
/// </remarks>
public sealed class SubdomainTenantResolutionStrategy : ITenantResolutionStrategy
{
    /// <summary>The placeholder that marks the tenant's label in a host template: <c>{tenant}</c>.</summary>
    public const string Placeholder = "{tenant}";

    private readonly string[] _suffixes;

    /// <summary>Initializes a new instance.</summary>
    /// <param name="templates">
    /// One or more host templates, e.g. <c>{tenant}.example.com</c> and <c>{tenant}.localhost</c>: <see cref="Placeholder"/>
    /// as the whole leftmost label, followed by at least one literal label of letters, digits and <c>-</c>; no port, no scheme.
    /// </param>
    /// <exception cref="ArgumentException">No template is given, or a template is not of that form; the message says which and why.</exception>
    public SubdomainTenantResolutionStrategy(params IEnumerable<string> templates)
    {
        ArgumentNullException.ThrowIfNull(templates);
        var list = templates.ToList();
        if (list.Count == 0)
        {
            throw new ArgumentException("At least one host template is required, e.g. '{tenant}.example.com'.", nameof(templates));
        }

        var suffixes = new List<string>(list.Count);
        foreach (var template in list)
        {
            var suffix = ParseTemplate(template);
            if (suffixes.Contains(suffix, StringComparer.Ordinal))
            {
                throw new ArgumentException($"The host template {DisplayText.Quote(template)} is given twice.", nameof(templates));
            }

            suffixes.Add(suffix);
        }

        Templates = list.AsReadOnly();
        _suffixes = [.. suffixes];
    }

    /// <summary>Gets the host templates, in the order they are tried.</summary>
    public IReadOnlyList<string> Templates { get; }

    /// <inheritdoc />
    public string Name => Templates.Count == 1
        ? $"host template '{Templates[0]}'"
        : $"host templates {string.Join(", ", Templates.Select(t => $"'{t}'"))}";

    /// <inheritdoc />
    public ValueTask<string?> GetIdentifierAsync(HttpContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new ValueTask<string?>(Match(context.Request.Host.Host));
    }

    /// <summary>The tenant label of <paramref name="host"/> (port already removed), or <see langword="null"/> when no template matches.</summary>
    internal string? Match(string? host)
    {
        if (string.IsNullOrEmpty(host))
        {
            return null;
        }

        ReadOnlySpan<char> name = host;
        if (name[^1] == '.')
        {
            name = name[..^1];
        }

        // Lowercase ASCII letters only: ToLowerInvariant would fold e.g. the Kelvin sign (U+212A) into 'k'.
        Span<char> lowered = name.Length <= 256 ? stackalloc char[name.Length] : new char[name.Length];
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            lowered[i] = char.IsAsciiLetterUpper(c) ? (char)(c | 0x20) : c;
        }

        foreach (var suffix in _suffixes)
        {
            // suffix is ".example.com"; the label before it must be non-empty and a single label.
            if (lowered.Length > suffix.Length && lowered.EndsWith(suffix, StringComparison.Ordinal))
            {
                var label = lowered[..^suffix.Length];
                if (!label.Contains('.'))
                {
                    return new string(label);
                }
            }
        }

        return null;
    }

    /// <summary>Checks a template and returns its suffix after the placeholder, lowercased (e.g. <c>.example.com</c>).</summary>
    private static string ParseTemplate(string? template)
    {
        if (string.IsNullOrWhiteSpace(template))
        {
            throw new ArgumentException("A host template is empty; write e.g. '{tenant}.example.com'.", nameof(template));
        }

        var quoted = DisplayText.Quote(template);
        var placeholders = CountOccurrences(template, Placeholder);
        if (placeholders != 1)
        {
            throw new ArgumentException(
                $"The host template {quoted} contains the placeholder '{Placeholder}' {placeholders} times; it must contain it exactly once, as the leftmost label, e.g. '{{tenant}}.example.com'.",
                nameof(template));
        }

        if (!template.StartsWith(Placeholder + ".", StringComparison.Ordinal))
        {
            throw new ArgumentException(
                $"The host template {quoted} must start with '{Placeholder}.': the placeholder is the whole leftmost label, followed by the rest of the host name, e.g. '{{tenant}}.example.com'.",
                nameof(template));
        }

        var suffix = template[Placeholder.Length..];
        var rest = suffix[1..];
        foreach (var label in rest.Split('.'))
        {
            if (label.Length == 0 || label.Length > 63 || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') || label[0] == '-' || label[^1] == '-')
            {
                throw new ArgumentException(
                    $"The host template {quoted} has the label {DisplayText.Quote(label)} after the placeholder, which is not a host name label: write the rest of the host name as labels of 1 to 63 letters, digits and '-' separated by '.', without a scheme, port, path or wildcard, e.g. '{{tenant}}.example.com'.",
                    nameof(template));
            }
        }

        return suffix.ToLowerInvariant();
    }

    private static int CountOccurrences(string text, string value)
    {
        var count = 0;
        for (var index = text.IndexOf(value, StringComparison.OrdinalIgnoreCase); index >= 0; index = text.IndexOf(value, index + value.Length, StringComparison.OrdinalIgnoreCase))
        {
            count++;
        }

        return count;
    }
}
