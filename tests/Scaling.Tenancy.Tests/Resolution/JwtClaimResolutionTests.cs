using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.IdentityModel.Tokens;
using Scaling.Tenancy.Resolution;

namespace Scaling.Tenancy.Tests.Resolution;

/// <summary>The claim strategy with real signed JWTs (JwtBearer, symmetric key), and the cross-tenant check.</summary>
public sealed class JwtClaimResolutionTests
{
    private static (string, string) Bearer(string token) => ("Authorization", $"Bearer {token}");

    private static string TokenFor(params string[] tenants) => ResolutionTestApp.CreateToken(
        tenants.Length switch
        {
            0 => new Dictionary<string, object>(),
            1 => new Dictionary<string, object> { ["tenant"] = tenants[0] },
            _ => new Dictionary<string, object> { ["tenant"] = tenants },
        });

    [Fact]
    public async Task The_tenant_claim_of_a_valid_token_resolves_the_tenant()
    {
        await using var app = await ResolutionTestApp.StartAsync(o => o.AddClaim(), jwt: true);

        using var response = await app.GetAsync("/whoami", Bearer(TokenFor("globex")));

        Assert.Equal("globex|globex|claim 'tenant'", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_token_signed_with_another_key_resolves_nothing()
    {
        await using var app = await ResolutionTestApp.StartAsync(o => o.AddClaim(), jwt: true);
        var forged = ResolutionTestApp.CreateToken(
            new Dictionary<string, object> { ["tenant"] = "globex" },
            new SymmetricSecurityKey(Encoding.UTF8.GetBytes("another-key-that-is-also-at-least-256-bits-long!!")));

        using var open = await app.GetAsync("/whoami", Bearer(forged));
        using var required = await app.GetAsync("/required", Bearer(forged));

        Assert.Equal("-|-|-", await open.Content.ReadAsStringAsync());
        await ProblemAssert.IsProblemAsync(required, 400, "tenant-required");
    }

    [Fact]
    public async Task A_malformed_claim_is_refused_with_400()
    {
        await using var app = await ResolutionTestApp.StartAsync(o => o.AddClaim(), jwt: true);

        using var response = await app.GetAsync("/whoami", Bearer(TokenFor("Globex")));

        var problem = await ProblemAssert.IsProblemAsync(response, 400, "tenant-malformed");
        Assert.Equal("claim 'tenant'", problem.GetProperty("source").GetString());
        Assert.Equal(0, app.EndpointRuns);
    }

    [Fact]
    public async Task A_token_for_one_tenant_used_on_another_tenants_subdomain_is_refused_with_403()
    {
        await using var app = await ResolutionTestApp.StartAsync(o => o.AddSubdomain("{tenant}.example.com").AddHeader().AddClaim(), jwt: true);

        using var own = await app.GetAsync("/whoami", ("Host", "acme.example.com"), Bearer(TokenFor("acme")));
        using var crossBySubdomain = await app.GetAsync("/whoami", ("Host", "globex.example.com"), Bearer(TokenFor("acme")));
        using var crossByHeader = await app.GetAsync("/whoami", ("X-Tenant", "globex"), Bearer(TokenFor("acme")));

        Assert.Equal("acme|acme|host template '{tenant}.example.com'", await own.Content.ReadAsStringAsync());
        foreach (var (response, source) in new[] { (crossBySubdomain, "host template '{tenant}.example.com'"), (crossByHeader, "header 'X-Tenant'") })
        {
            var problem = await ProblemAssert.IsProblemAsync(response, 403, "tenant-forbidden");
            Assert.Equal("Forbidden", problem.GetProperty("title").GetString());
            Assert.Equal("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.4", problem.GetProperty("type").GetString());
            Assert.Equal("globex", problem.Tenant());
            Assert.Equal(source, problem.GetProperty("source").GetString());
            Assert.Contains("the authenticated user's claim 'tenant' names another tenant", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal(1, app.EndpointRuns);
        Assert.Equal(1, app.Lookup.Calls); // refused before the lookup
        Assert.Equal(1, app.Accessor.ScopesBegun);
        Assert.Equal(2, app.Logs.Entries.Count(e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning && e.Message.StartsWith("Refused a cross-tenant request with 403", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Tokens_without_the_claim_are_not_checked_and_the_claim_resolves_when_nothing_before_it_applies()
    {
        await using var app = await ResolutionTestApp.StartAsync(o => o.AddSubdomain("{tenant}.example.com").AddClaim(), jwt: true);

        using var operatorToken = await app.GetAsync("/whoami", ("Host", "globex.example.com"), Bearer(TokenFor()));
        using var anonymous = await app.GetAsync("/whoami", ("Host", "globex.example.com"));
        using var claimOnly = await app.GetAsync("/whoami", ("Host", "www.example.org"), Bearer(TokenFor("acme")));

        Assert.Equal("globex|globex|host template '{tenant}.example.com'", await operatorToken.Content.ReadAsStringAsync());
        Assert.Equal("globex|globex|host template '{tenant}.example.com'", await anonymous.Content.ReadAsStringAsync());
        Assert.Equal("acme|acme|claim 'tenant'", await claimOnly.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_user_of_several_tenants_may_act_for_each_of_them_and_no_other()
    {
        await using var app = await ResolutionTestApp.StartAsync(o => o.AddSubdomain("{tenant}.example.com").AddClaim(), jwt: true);
        var token = TokenFor("acme", "globex");

        using var acme = await app.GetAsync("/whoami", ("Host", "acme.example.com"), Bearer(token));
        using var globex = await app.GetAsync("/whoami", ("Host", "globex.example.com"), Bearer(token));
        using var initech = await app.GetAsync("/whoami", ("Host", "initech.example.com"), Bearer(token));

        Assert.Equal("acme|acme|host template '{tenant}.example.com'", await acme.Content.ReadAsStringAsync());
        Assert.Equal("globex|globex|host template '{tenant}.example.com'", await globex.Content.ReadAsStringAsync());
        await ProblemAssert.IsProblemAsync(initech, 403, "tenant-forbidden");
    }

    [Fact]
    public async Task Under_FirstWins_the_claim_does_not_veto_another_source()
    {
        await using var app = await ResolutionTestApp.StartAsync(
            o =>
            {
                o.AddSubdomain("{tenant}.example.com").AddClaim();
                o.ConflictPolicy = TenantConflictPolicy.FirstWins;
            },
            jwt: true);

        using var response = await app.GetAsync("/whoami", ("Host", "globex.example.com"), Bearer(TokenFor("acme")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("globex|globex|host template '{tenant}.example.com'", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Under_RejectAnyMismatch_a_differing_claim_is_still_a_403()
    {
        await using var app = await ResolutionTestApp.StartAsync(
            o =>
            {
                o.AddHeader().AddClaim();
                o.ConflictPolicy = TenantConflictPolicy.RejectAnyMismatch;
            },
            jwt: true);

        using var response = await app.GetAsync("/whoami", ("X-Tenant", "globex"), Bearer(TokenFor("acme")));

        await ProblemAssert.IsProblemAsync(response, 403, "tenant-forbidden");
    }

    [Fact]
    public async Task An_expired_token_is_anonymous_so_its_claim_neither_resolves_nor_vetoes()
    {
        await using var app = await ResolutionTestApp.StartAsync(o => o.AddHeader().AddClaim(), jwt: true);
        var handler = new Microsoft.IdentityModel.JsonWebTokens.JsonWebTokenHandler();
        var expired = handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = ResolutionTestApp.Issuer,
            Audience = ResolutionTestApp.Audience,
            Claims = new Dictionary<string, object> { ["tenant"] = "acme" },
            NotBefore = DateTime.UtcNow.AddMinutes(-10),
            Expires = DateTime.UtcNow.AddMinutes(-5),
            IssuedAt = DateTime.UtcNow.AddMinutes(-10),
            SigningCredentials = new SigningCredentials(ResolutionTestApp.SigningKey, SecurityAlgorithms.HmacSha256),
        });
        using var request = new HttpRequestMessage(HttpMethod.Get, "/whoami");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", expired);
        request.Headers.Add("X-Tenant", "globex");

        using var response = await app.Client.SendAsync(request);

        Assert.Equal("globex|globex|header 'X-Tenant'", await response.Content.ReadAsStringAsync());
    }
}
