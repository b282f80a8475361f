using Microsoft.AspNetCore.Http;
using Scaling.Tenancy.Resolution;

namespace Scaling.Tenancy.Tests.Resolution;

public sealed class SubdomainTenantResolutionStrategyTests
{
    private readonly SubdomainTenantResolutionStrategy _strategy = new("{tenant}.example.com", "{tenant}.eu.example.com", "{tenant}.localhost");

    [Theory]
    [InlineData("acme.example.com", "acme")]
    [InlineData("ACME.Example.COM", "acme")]
    [InlineData("acme.example.com.", "acme")]
    [InlineData("acme.eu.example.com", "acme")]
    [InlineData("globex.localhost", "globex")]
    [InlineData("ac_me.example.com", "ac_me")] // one label, not a tenant id: a malformed candidate (400), not "not applicable"
    [InlineData("-acme.example.com", "-acme")]
    public void A_host_that_matches_a_template_yields_its_leftmost_label_lowercased(string host, string expected)
    {
        Assert.Equal(expected, _strategy.Match(host));
    }

    [Theory]
    [InlineData("example.com")]
    [InlineData(".example.com")]
    [InlineData("www.acme.example.com")]
    [InlineData("acme.example.org")]
    [InlineData("acmeexample.com")]
    [InlineData("acme.example.com.evil.org")]
    [InlineData("localhost")]
    [InlineData("127.0.0.1")]
    [InlineData("[::1]")]
    [InlineData("")]
    [InlineData(null)]
    public void A_host_that_matches_no_template_is_not_applicable(string? host)
    {
        Assert.Null(_strategy.Match(host));
    }

    [Fact]
    public void Only_ascii_letters_are_lowercased_so_lookalikes_stay_malformed()
    {
        // U+212A KELVIN SIGN lowercases to 'k' with ToLowerInvariant; it must not become tenant "kcme".
        var candidate = _strategy.Match("\u212Acme.example.com");

        Assert.Equal("\u212Acme", candidate);
        Assert.False(TenantId.TryParse(candidate, out _));
    }

    [Fact]
    public async Task The_port_is_ignored()
    {
        var context = new DefaultHttpContext();
        context.Request.Host = new HostString("Globex.Example.com", 8443);

        Assert.Equal("globex", await _strategy.GetIdentifierAsync(context, CancellationToken.None));
        Assert.Equal("host templates '{tenant}.example.com', '{tenant}.eu.example.com', '{tenant}.localhost'", _strategy.Name);
    }

    [Theory]
    [InlineData("example.com", "contains the placeholder '{tenant}' 0 times")]
    [InlineData("{tenant}.{tenant}.example.com", "contains the placeholder '{tenant}' 2 times")]
    [InlineData("www.{tenant}.example.com", "must start with '{tenant}.'")]
    [InlineData("{tenant}-shop.example.com", "must start with '{tenant}.'")]
    [InlineData("{tenant}", "must start with '{tenant}.'")]
    [InlineData("{tenant}.example.com:8080", "has the label 'com:8080' after the placeholder")]
    [InlineData("{tenant}.*.example.com", "has the label '*' after the placeholder")]
    [InlineData("{tenant}..example.com", "has the label '' after the placeholder")]
    [InlineData(" ", "A host template is empty")]
    public void Invalid_templates_are_refused_with_a_message_that_says_why(string template, string expected)
    {
        var exception = Assert.Throws<ArgumentException>(() => new SubdomainTenantResolutionStrategy(template));

        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void At_least_one_template_is_required_and_none_twice()
    {
        Assert.Contains("At least one host template is required", Assert.Throws<ArgumentException>(() => new SubdomainTenantResolutionStrategy()).Message, StringComparison.Ordinal);
        Assert.Contains("is given twice", Assert.Throws<ArgumentException>(() => new SubdomainTenantResolutionStrategy("{tenant}.a.com", "{tenant}.A.com")).Message, StringComparison.Ordinal);
    }
}
