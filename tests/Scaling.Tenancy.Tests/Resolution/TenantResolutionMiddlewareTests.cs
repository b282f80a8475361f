using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Scaling.Tenancy.Resolution;

namespace Scaling.Tenancy.Tests.Resolution;

/// <summary>The middleware over TestServer: each strategy, the chain, 400/404/503 problem responses and the ambient tenant.</summary>
public sealed class TenantResolutionMiddlewareTests
{
    private static void All(TenantResolutionOptions o) =>
        o.AddSubdomain("{tenant}.example.com", "{tenant}.localhost").AddHeader().AddRouteValue();

    [Theory]
    [InlineData("acme.example.com")]
    [InlineData("ACME.Example.COM:8443")]
    [InlineData("acme.localhost:5000")]
    public async Task The_subdomain_resolves_the_tenant_case_insensitively_and_without_the_port(string host)
    {
        await using var app = await ResolutionTestApp.StartAsync(All);

        using var response = await app.GetAsync("/whoami", ("Host", host));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("acme|acme|host templates '{tenant}.example.com', '{tenant}.localhost'", await response.Content.ReadAsStringAsync());
        Assert.Equal(1, app.Accessor.ScopesBegun);
    }

    [Fact]
    public async Task The_header_resolves_the_tenant_and_the_header_name_is_configurable()
    {
        await using var app = await ResolutionTestApp.StartAsync(o => o.AddHeader().AddHeader("X-Organisation"));

        using var byDefaultHeader = await app.GetAsync("/whoami", ("x-tenant", "globex"));
        using var byOtherHeader = await app.GetAsync("/whoami", ("X-Organisation", "acme"));

        Assert.Equal("globex|globex|header 'X-Tenant'", await byDefaultHeader.Content.ReadAsStringAsync());
        Assert.Equal("acme|acme|header 'X-Organisation'", await byOtherHeader.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_route_value_resolves_the_tenant()
    {
        await using var app = await ResolutionTestApp.StartAsync(o => o.AddRouteValue());

        using var response = await app.GetAsync("/t/globex/whoami");

        Assert.Equal("globex|globex|route value 'tenant'", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_malformed_route_value_is_refused_with_400()
    {
        await using var app = await ResolutionTestApp.StartAsync(o => o.AddRouteValue());

        using var response = await app.GetAsync("/t/ac%20me/whoami");

        var problem = await ProblemAssert.IsProblemAsync(response, 400, "tenant-malformed");
        Assert.Contains("'ac me' contains ' ' (U+0020) at index 2", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, app.EndpointRuns);
    }

    [Fact]
    public async Task A_custom_strategy_takes_part_in_the_chain_in_order()
    {
        await using var app = await ResolutionTestApp.StartAsync(o => o.Add(new QueryStrategy()).AddHeader());

        using var byQuery = await app.GetAsync("/whoami?org=acme", ("X-Tenant", "globex"));
        using var byHeader = await app.GetAsync("/whoami", ("X-Tenant", "globex"));

        Assert.Equal("acme|acme|query 'org'", await byQuery.Content.ReadAsStringAsync());
        Assert.Equal("globex|globex|header 'X-Tenant'", await byHeader.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_first_strategy_that_yields_a_candidate_wins_and_a_host_that_matches_no_template_falls_through()
    {
        await using var subdomainFirst = await ResolutionTestApp.StartAsync(o => o.AddSubdomain("{tenant}.example.com").AddHeader());
        await using var headerFirst = await ResolutionTestApp.StartAsync(o => o.AddHeader().AddSubdomain("{tenant}.example.com"));

        using var a = await subdomainFirst.GetAsync("/whoami", ("Host", "acme.example.com"), ("X-Tenant", "globex"));
        using var b = await headerFirst.GetAsync("/whoami", ("Host", "acme.example.com"), ("X-Tenant", "globex"));
        using var apex = await subdomainFirst.GetAsync("/whoami", ("Host", "example.com"), ("X-Tenant", "globex"));
        using var deeper = await subdomainFirst.GetAsync("/whoami", ("Host", "www.acme.example.com"), ("X-Tenant", "globex"));

        Assert.Equal("acme|acme|host template '{tenant}.example.com'", await a.Content.ReadAsStringAsync());
        Assert.Equal("globex|globex|header 'X-Tenant'", await b.Content.ReadAsStringAsync());
        Assert.Equal("globex|globex|header 'X-Tenant'", await apex.Content.ReadAsStringAsync());
        Assert.Equal("globex|globex|header 'X-Tenant'", await deeper.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Under_RejectAnyMismatch_strategies_that_disagree_are_refused_with_400()
    {
        await using var app = await ResolutionTestApp.StartAsync(o =>
        {
            o.AddSubdomain("{tenant}.example.com").AddHeader();
            o.ConflictPolicy = TenantConflictPolicy.RejectAnyMismatch;
        });

        using var agreeing = await app.GetAsync("/whoami", ("Host", "acme.example.com"), ("X-Tenant", "acme"));
        using var headerOnly = await app.GetAsync("/whoami", ("Host", "acme.example.com"));
        using var conflicting = await app.GetAsync("/whoami", ("Host", "acme.example.com"), ("X-Tenant", "globex\u001b[31m"));

        Assert.Equal("acme|acme|host template '{tenant}.example.com'", await agreeing.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, headerOnly.StatusCode);
        var problem = await ProblemAssert.IsProblemAsync(conflicting, 400, "tenant-conflict");
        Assert.Equal("acme", problem.Tenant());
        Assert.Equal("header 'X-Tenant'", problem.GetProperty("conflictingSource").GetString());
        Assert.Equal(
            "The request names two tenants: 'acme' from host template '{tenant}.example.com' and 'globex\\u001B[31m' from header 'X-Tenant'.",
            problem.GetProperty("detail").GetString());
        Assert.Equal(2, app.EndpointRuns);
        Assert.Equal(2, app.Lookup.Calls);
    }

    [Theory]
    [InlineData("ACME", "contains the uppercase letter 'A' at index 0")]
    [InlineData("Acme", "contains the uppercase letter 'A' at index 0")]
    [InlineData("../acme", "contains '.' (U+002E) at index 0")]
    [InlineData("acme/../globex", "contains '/' (U+002F) at index 4")]
    [InlineData(" acme", "contains ' ' (U+0020) at index 0")]
    [InlineData("ac\u0007me", "'ac\\u0007me' contains U+0007 at index 2")]
    [InlineData("acme\u001b]0;pwned\u0007", "'acme\\u001B]0;pwned\\u0007' contains U+001B at index 4")]
    [InlineData("-acme", "starts with '-'")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "is 64 characters long; a tenant id is at most 63 characters")]
    public async Task A_malformed_header_is_refused_with_400_before_any_lookup_scope_or_endpoint(string value, string expected)
    {
        await using var app = await ResolutionTestApp.StartAsync(All);

        using var response = await app.GetAsync("/whoami", ("X-Tenant", value));

        var problem = await ProblemAssert.IsProblemAsync(response, 400, "tenant-malformed");
        Assert.Equal("Bad Request", problem.GetProperty("title").GetString());
        Assert.Equal("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.1", problem.GetProperty("type").GetString());
        Assert.Equal("header 'X-Tenant'", problem.GetProperty("source").GetString());
        Assert.Null(problem.Tenant());
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.StartsWith("The tenant id read from header 'X-Tenant' is malformed. ", detail, StringComparison.Ordinal);
        Assert.Contains(expected, detail, StringComparison.Ordinal);
        Assert.DoesNotContain(detail, char.IsControl);
        Assert.Equal(0, app.Lookup.Calls);
        Assert.Equal(0, app.Accessor.ScopesBegun);
        Assert.Equal(0, app.EndpointRuns);
        var logged = Assert.Single(app.Logs.MessagesOf("Scaling.Tenancy.Resolution"));
        Assert.Contains(expected, logged, StringComparison.Ordinal);
        Assert.DoesNotContain(logged, char.IsControl);
    }

    [Fact]
    public async Task A_very_long_header_is_quoted_cut_short_in_the_detail_and_the_log()
    {
        await using var app = await ResolutionTestApp.StartAsync(All);
        var value = "a" + new string('\u0001', 5000);

        using var response = await app.GetAsync("/whoami", ("X-Tenant", value));

        var problem = await ProblemAssert.IsProblemAsync(response, 400, "tenant-malformed");
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.Contains("(first 64 of 5001 characters) is 5001 characters long", detail, StringComparison.Ordinal);
        Assert.True(detail.Length < 700, $"The detail is {detail.Length} characters long.");
        Assert.True(app.Logs.MessagesOf("Scaling.Tenancy.Resolution").Single().Length < 700);
    }

    [Fact]
    public async Task A_present_but_empty_header_is_a_malformed_candidate_not_a_missing_one()
    {
        var strategy = new HeaderTenantResolutionStrategy();
        var context = new DefaultHttpContext();
        Assert.Null(await strategy.GetIdentifierAsync(context, CancellationToken.None));

        context.Request.Headers["X-Tenant"] = string.Empty;

        Assert.Equal(string.Empty, await strategy.GetIdentifierAsync(context, CancellationToken.None));
    }

    [Fact]
    public async Task A_header_sent_twice_is_refused_rather_than_picking_one()
    {
        await using var app = await ResolutionTestApp.StartAsync(All);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/whoami");
        request.Headers.Add("X-Tenant", ["acme", "globex"]);

        using var response = await app.Client.SendAsync(request);

        var problem = await ProblemAssert.IsProblemAsync(response, 400, "tenant-malformed");
        Assert.Contains("'acme,globex' contains ','", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, app.EndpointRuns);
    }

    [Fact]
    public async Task A_malformed_subdomain_is_refused_with_400()
    {
        await using var app = await ResolutionTestApp.StartAsync(All);

        using var response = await app.GetAsync("/whoami", ("Host", "ac_me.example.com"), ("X-Tenant", "acme"));

        var problem = await ProblemAssert.IsProblemAsync(response, 400, "tenant-malformed");
        Assert.Equal("host templates '{tenant}.example.com', '{tenant}.localhost'", problem.GetProperty("source").GetString());
        Assert.Equal(0, app.EndpointRuns);
    }

    [Fact]
    public async Task An_unknown_tenant_is_refused_with_404_naming_it()
    {
        await using var app = await ResolutionTestApp.StartAsync(All);

        using var response = await app.GetAsync("/whoami", ("Host", "initech.example.com"));

        var problem = await ProblemAssert.IsProblemAsync(response, 404, "tenant-not-found");
        Assert.Equal("Not Found", problem.GetProperty("title").GetString());
        Assert.Equal("initech", problem.Tenant());
        Assert.Equal("The tenant 'initech' (read from host templates '{tenant}.example.com', '{tenant}.localhost') does not exist.", problem.GetProperty("detail").GetString());
        Assert.Equal("/whoami", problem.GetProperty("instance").GetString());
        Assert.Equal(1, app.Lookup.Calls);
        Assert.Equal(0, app.Accessor.ScopesBegun);
        Assert.Equal(0, app.EndpointRuns);
    }

    [Fact]
    public async Task Without_an_identifier_the_request_continues_without_a_tenant_unless_the_endpoint_requires_one()
    {
        await using var app = await ResolutionTestApp.StartAsync(All);

        using var open = await app.GetAsync("/whoami", ("Host", "www.example.org"));
        using var required = await app.GetAsync("/required", ("Host", "www.example.org"));
        using var requiredWithTenant = await app.GetAsync("/required", ("Host", "acme.example.com"));

        Assert.Equal(HttpStatusCode.OK, open.StatusCode);
        Assert.Equal("-|-|-", await open.Content.ReadAsStringAsync());
        var problem = await ProblemAssert.IsProblemAsync(required, 400, "tenant-required");
        Assert.Equal(
            "This endpoint requires a tenant, and the request identifies none (tried host templates '{tenant}.example.com', '{tenant}.localhost', header 'X-Tenant', route value 'tenant').",
            problem.GetProperty("detail").GetString());
        Assert.Equal(
            ["host templates '{tenant}.example.com', '{tenant}.localhost'", "header 'X-Tenant'", "route value 'tenant'"],
            problem.GetProperty("sources").EnumerateArray().Select(e => e.GetString()));
        Assert.Null(problem.Tenant());
        Assert.Equal("acme|acme|host templates '{tenant}.example.com', '{tenant}.localhost'", await requiredWithTenant.Content.ReadAsStringAsync());
        Assert.Equal(2, app.EndpointRuns);
        Assert.Equal(1, app.Lookup.Calls);
    }

    [Fact]
    public async Task The_attribute_on_a_handler_requires_a_tenant_too()
    {
        await using var app = await ResolutionTestApp.StartAsync(o => o.AddHeader(), map: a => a.MapGet("/attributed", [RequireTenant] () => "ran"));

        using var without = await app.GetAsync("/attributed");
        using var with = await app.GetAsync("/attributed", ("X-Tenant", "acme"));

        await ProblemAssert.IsProblemAsync(without, 400, "tenant-required");
        Assert.Equal("ran", await with.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_ambient_tenant_is_visible_in_the_endpoint_and_gone_once_the_pipeline_returns()
    {
        await using var app = await ResolutionTestApp.StartAsync(All);

        var responses = await Task.WhenAll(
            Enumerable.Range(0, 20).Select(i => app.GetAsync("/whoami", ("X-Tenant", i % 2 == 0 ? "acme" : "globex"))));

        for (var i = 0; i < responses.Length; i++)
        {
            var expected = i % 2 == 0 ? "acme" : "globex";
            Assert.Equal($"{expected}|{expected}|header 'X-Tenant'", await responses[i].Content.ReadAsStringAsync());
            responses[i].Dispose();
        }

        Assert.Equal(20, app.CurrentAfterPipeline.Count);
        Assert.All(app.CurrentAfterPipeline, Assert.Null);
        Assert.Equal(20, app.Accessor.ScopesBegun);
        Assert.Equal(20, app.Accessor.ScopesEnded);
        Assert.Null(app.Accessor.Current);
    }

    [Theory]
    [InlineData(2100, "3")]
    [InlineData(3000, "3")]
    [InlineData(1, "1")]
    [InlineData(0, "1")]
    public async Task A_TenantUnavailableException_downstream_becomes_503_with_Retry_After_in_whole_seconds_rounded_up(int milliseconds, string retryAfter)
    {
        await using var app = await ResolutionTestApp.StartAsync(All);

        using var response = await app.GetAsync($"/throw/unavailable/{milliseconds}", ("X-Tenant", "acme"));

        var problem = await ProblemAssert.IsProblemAsync(response, 503, "tenant-unavailable");
        Assert.Equal(retryAfter, string.Join(",", response.Headers.GetValues("Retry-After")));
        Assert.Equal("Service Unavailable", problem.GetProperty("title").GetString());
        Assert.Equal("acme", problem.Tenant());
        Assert.Equal("ReadOnly", problem.GetProperty("reason").GetString());
        Assert.Equal(long.Parse(retryAfter, System.Globalization.CultureInfo.InvariantCulture), problem.GetProperty("retryAfter").GetInt64());
        Assert.Equal($"The tenant 'acme' is temporarily unavailable (it is read-only for the moment); retry after {retryAfter} s.", problem.GetProperty("detail").GetString());
        Assert.DoesNotContain("10.0.0.12", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(1, app.EndpointRuns);
        Assert.Equal(1, app.Accessor.ScopesEnded); // the scope ended before the 503 was written
        Assert.Contains(app.Logs.Entries, e => e.Level == LogLevel.Information && e.Message.Contains("Answered 503 with Retry-After", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_TenantNotFoundException_downstream_becomes_404_even_without_a_resolved_tenant()
    {
        await using var app = await ResolutionTestApp.StartAsync(All);

        using var response = await app.GetAsync("/throw/not-found");

        var problem = await ProblemAssert.IsProblemAsync(response, 404, "tenant-not-found");
        Assert.Equal("initech", problem.Tenant());
        Assert.Equal(1, app.EndpointRuns);
    }

    [Fact]
    public async Task A_tenant_exception_after_the_response_started_is_not_turned_into_a_problem()
    {
        await using var app = await ResolutionTestApp.StartAsync(All);

        var exception = await Record.ExceptionAsync(async () =>
        {
            using var response = await app.GetAsync("/throw/after-start", ("X-Tenant", "acme"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await response.Content.ReadAsStringAsync();
        });

        Assert.NotNull(exception); // TestServer surfaces the aborted response to the client
        Assert.Contains(app.Logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("after the response had started", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Cancellation_reaches_the_strategies_as_the_request_aborted_token()
    {
        var strategy = new RecordingStrategy();
        await using var app = await ResolutionTestApp.StartAsync(o => o.Add(strategy));

        using var response = await app.GetAsync("/whoami");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(strategy.TokenWasRequestAborted);
    }

    private sealed class QueryStrategy : ITenantResolutionStrategy
    {
        public string Name => "query 'org'";

        public ValueTask<string?> GetIdentifierAsync(HttpContext context, CancellationToken cancellationToken) =>
            new(context.Request.Query.TryGetValue("org", out var value) ? value.ToString() : null);
    }

    private sealed class RecordingStrategy : ITenantResolutionStrategy
    {
        public bool TokenWasRequestAborted { get; private set; }

        public string Name => "recording";

        public async ValueTask<string?> GetIdentifierAsync(HttpContext context, CancellationToken cancellationToken)
        {
            await Task.Yield();
            TokenWasRequestAborted = cancellationToken == context.RequestAborted && cancellationToken.CanBeCanceled;
            return null;
        }
    }
}
