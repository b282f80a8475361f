using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features.Authentication;
using Scaling.Tenancy.Resolution;

namespace Scaling.Tenancy.Tests.Resolution;

/// <summary>The claim strategy on a request alone (no server): what it reads, and what it leaves untouched.</summary>
public sealed class ClaimTenantResolutionStrategyTests
{
    [Fact]
    public async Task A_request_nobody_authenticated_resolves_nothing_and_is_given_no_user()
    {
        var strategy = new ClaimTenantResolutionStrategy();
        var context = new DefaultHttpContext();

        Assert.Null(await strategy.GetIdentifierAsync(context, CancellationToken.None));
        Assert.Equal((false, false), strategy.Check(context, TenantId.Parse("globex")));

        // HttpContext.User would have made an empty principal for it (an allocation on every anonymous request).
        Assert.Null(context.Features.Get<IHttpAuthenticationFeature>());
    }

    [Fact]
    public async Task The_claim_of_the_user_authentication_set_is_read()
    {
        var strategy = new ClaimTenantResolutionStrategy();
        var context = new DefaultHttpContext { User = new ClaimsPrincipal(new ClaimsIdentity([new Claim("tenant", "globex"), new Claim("tenant", "initech")], "Bearer")) };

        Assert.Equal("globex", await strategy.GetIdentifierAsync(context, CancellationToken.None));
        Assert.Equal((true, true), strategy.Check(context, TenantId.Parse("initech")));
        Assert.Equal((true, false), strategy.Check(context, TenantId.Parse("acme")));
    }
}
