using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Scaling.Tenancy.Resolution;

namespace Scaling.Tenancy.Tests.Resolution;

/// <summary>Registration and start-up validation: bad options fail when the host starts, with messages that name the option.</summary>
public sealed class TenantResolutionOptionsTests
{
    [Theory]
    [InlineData("example.com", "TenantResolutionOptions.AddSubdomain: The host template 'example.com' contains the placeholder '{tenant}' 0 times")]
    [InlineData("{tenant}.{tenant}.example.com", "TenantResolutionOptions.AddSubdomain: The host template '{tenant}.{tenant}.example.com' contains the placeholder '{tenant}' 2 times")]
    [InlineData("app.{tenant}.example.com", "TenantResolutionOptions.AddSubdomain: The host template 'app.{tenant}.example.com' must start with '{tenant}.'")]
    [InlineData("{tenant}.example.com:443", "TenantResolutionOptions.AddSubdomain: The host template '{tenant}.example.com:443' has the label 'com:443'")]
    public async Task A_bad_host_template_fails_at_start_up_naming_the_option(string template, string expected)
    {
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => StartAsync(o => o.AddSubdomain(template).AddHeader()));

        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_chain_fails_at_start_up()
    {
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => StartAsync(_ => { }));

        Assert.Contains("TenantResolutionOptions.Strategies is empty", exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("header", "TenantResolutionOptions.AddHeader: The header name 'X Tenant' is not a valid HTTP header name")]
    [InlineData("claim", "TenantResolutionOptions.AddClaim: The claim type is empty or white space")]
    [InlineData("route", "TenantResolutionOptions.AddRouteValue: The route value name is empty or white space")]
    public async Task Bad_header_claim_and_route_names_fail_at_start_up_naming_the_option(string kind, string expected)
    {
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => StartAsync(o => _ = kind switch
        {
            "header" => o.AddHeader("X Tenant"),
            "claim" => o.AddClaim(" "),
            _ => o.AddRouteValue(string.Empty),
        }));

        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_validator_names_null_and_nameless_strategies_and_an_undefined_policy()
    {
        var options = new TenantResolutionOptions { ConflictPolicy = (TenantConflictPolicy)7 };
        options.Strategies.Add(null!);
        options.Strategies.Add(new NamelessStrategy());

        var failures = string.Join("\n", TenantResolutionOptionsValidator.Failures(options));

        Assert.Contains("TenantResolutionOptions.Strategies[0] is null.", failures, StringComparison.Ordinal);
        Assert.Contains("TenantResolutionOptions.Strategies[1] (Scaling.Tenancy.Tests.Resolution.TenantResolutionOptionsTests+NamelessStrategy) has an empty Name", failures, StringComparison.Ordinal);
        Assert.Contains("TenantResolutionOptions.ConflictPolicy has the undefined value 7.", failures, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_are_a_claim_checking_policy_and_valid_once_a_strategy_is_added()
    {
        var options = new TenantResolutionOptions().AddSubdomain("{tenant}.example.com").AddHeader().AddClaim().AddRouteValue();

        Assert.Empty(TenantResolutionOptionsValidator.Failures(options));
        Assert.Equal(TenantConflictPolicy.RejectClaimMismatch, options.ConflictPolicy);
        Assert.Equal(
            ["host template '{tenant}.example.com'", "header 'X-Tenant'", "claim 'tenant'", "route value 'tenant'"],
            options.Strategies.Select(s => s.Name));
    }

    [Fact]
    public async Task Registration_adds_the_default_accessor_but_no_lookup_and_keeps_an_accessor_registered_before()
    {
        var services = new ServiceCollection();
        services.AddScalingTenantResolution(o => o.AddHeader());
        var custom = new ServiceCollection();
        var accessor = new CountingTenantContextAccessor();
        custom.AddSingleton<ITenantContextAccessor>(accessor);
        custom.AddScalingTenantResolution(o => o.AddHeader());

        await using var provider = services.BuildServiceProvider();
        await using var customProvider = custom.BuildServiceProvider();

        Assert.IsType<TenantContextAccessor>(provider.GetRequiredService<ITenantContextAccessor>());
        Assert.Null(provider.GetService<ITenantLookup>());
        Assert.Same(accessor, customProvider.GetRequiredService<ITenantContextAccessor>());
    }

    [Fact]
    public async Task The_middleware_refuses_to_be_added_without_a_lookup_or_without_registration()
    {
        var noLookup = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync(o => o.AddHeader(), registerLookup: false));
        var notRegistered = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync(null));

        Assert.Contains("needs an ITenantLookup", noLookup.Message, StringComparison.Ordinal);
        Assert.Contains("call services.AddScalingTenantResolution", notRegistered.Message, StringComparison.Ordinal);
    }

    private static async Task StartAsync(Action<TenantResolutionOptions>? configure, bool registerLookup = true)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        if (registerLookup)
        {
            builder.Services.AddSingleton<ITenantLookup>(new InMemoryTenantLookup("acme"));
        }

        if (configure is not null)
        {
            builder.Services.AddScalingTenantResolution(configure);
        }

        await using var app = builder.Build();
        app.UseScalingTenantResolution();
        app.MapGet("/", () => "ok");
        await app.StartAsync();
        await app.StopAsync();
    }

    private sealed class NamelessStrategy : ITenantResolutionStrategy
    {
        public string Name => " ";

        public ValueTask<string?> GetIdentifierAsync(HttpContext context, CancellationToken cancellationToken) => new((string?)null);
    }
}
