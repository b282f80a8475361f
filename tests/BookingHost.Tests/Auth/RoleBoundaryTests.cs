using System.Net;
using BookingHost.Auth;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Scaling.Tenancy;
using Scaling.Tenancy.Resolution;
using Scaling.Testing;

namespace BookingHost.Tests.Auth;

[Collection(ServersCollection.Name)]
public sealed class RoleBoundaryTests(ServersFixture fixture)
{
    private const string Users = "/api/v1/auth/users";
    private readonly TestServers _servers = fixture.Servers;

    [Fact]
    public async Task Staff_of_one_business_is_refused_with_403_when_naming_another()
    {
        await using var app = await BookingApp.StartAsync(_servers);
        var a = await app.CreateBusinessAsync();
        var b = await app.CreateBusinessAsync();
        var (_, staff) = await app.CreateAndLoginAsync(BookingRoles.Staff, a.Value);
        var (_, owner) = await app.CreateAndLoginAsync(BookingRoles.Owner, a.Value);
        using var client = app.CreateClient();

        foreach (var token in new[] { staff.AccessToken, owner.AccessToken })
        {
            using (var own = await client.GetAsync("/api/v1/auth/me", token, tenant: a.Value))
            {
                Assert.Equal(HttpStatusCode.OK, own.StatusCode);
                Assert.Equal(a.Value, (await own.JsonAsync()).GetProperty("tenant").GetString());
            }

            using var other = await client.GetAsync("/api/v1/auth/me", token, tenant: b.Value);
            await other.AssertProblemAsync(HttpStatusCode.Forbidden, "tenant-forbidden");
        }

        // Also on a host (subdomain) naming the other business.
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/v1/auth/me", UriKind.Relative));
        request.Headers.Host = b.Value + ".localhost";
        request.Headers.Authorization = new("Bearer", staff.AccessToken);
        using var bySubdomain = await client.SendAsync(request);
        await bySubdomain.AssertProblemAsync(HttpStatusCode.Forbidden, "tenant-forbidden");
    }

    [Fact]
    public async Task Business_policies_admit_only_the_request_business_staff()
    {
        await using var app = await BookingApp.StartAsync(_servers);
        var authorization = app.Services.GetRequiredService<IAuthorizationService>();
        var a = new TenantInfo(TenantId.Parse("biz-a"), "basic");
        var b = new TenantInfo(TenantId.Parse("biz-b"), "basic");

        async Task<bool> Allowed(string policy, string role, string? userTenant, TenantInfo? requestTenant)
        {
            var claims = new List<System.Security.Claims.Claim> { new(BookingClaims.UserId, Guid.NewGuid().ToString()), new(BookingClaims.Role, role) };
            if (userTenant is not null)
            {
                claims.Add(new(BookingClaims.Tenant, userTenant));
            }

            var user = new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity(claims, "test", BookingClaims.UserId, BookingClaims.Role));
            var http = new DefaultHttpContext { User = user, RequestServices = app.Services };
            if (requestTenant is not null)
            {
                http.Features.Set<ITenantFeature>(new Feature(requestTenant));
            }

            return (await authorization.AuthorizeAsync(user, http, policy)).Succeeded;
        }

        Assert.True(await Allowed(BookingPolicies.BusinessStaff, BookingRoles.Staff, "biz-a", a));
        Assert.True(await Allowed(BookingPolicies.BusinessStaff, BookingRoles.Owner, "biz-a", a));
        Assert.False(await Allowed(BookingPolicies.BusinessStaff, BookingRoles.Staff, "biz-a", b));
        Assert.False(await Allowed(BookingPolicies.BusinessStaff, BookingRoles.Staff, "biz-a", null));
        Assert.False(await Allowed(BookingPolicies.BusinessStaff, BookingRoles.Customer, null, a));
        Assert.False(await Allowed(BookingPolicies.BusinessStaff, BookingRoles.PlatformAdmin, null, a));
        Assert.True(await Allowed(BookingPolicies.BusinessOwner, BookingRoles.Owner, "biz-a", a));
        Assert.False(await Allowed(BookingPolicies.BusinessOwner, BookingRoles.Staff, "biz-a", a));
        Assert.False(await Allowed(BookingPolicies.BusinessOwner, BookingRoles.Owner, "biz-a", b));
        Assert.True(await Allowed(BookingPolicies.PlatformAdmin, BookingRoles.PlatformAdmin, null, null));
        Assert.False(await Allowed(BookingPolicies.PlatformAdmin, BookingRoles.Owner, "biz-a", a));
    }

    [Fact]
    public async Task Only_platform_admins_and_owners_create_accounts_within_their_rights()
    {
        await using var app = await BookingApp.StartAsync(_servers);
        var a = await app.CreateBusinessAsync();
        var b = await app.CreateBusinessAsync();
        var (_, admin) = await app.CreateAndLoginAsync(BookingRoles.PlatformAdmin);
        var (_, owner) = await app.CreateAndLoginAsync(BookingRoles.Owner, a.Value);
        var (_, staff) = await app.CreateAndLoginAsync(BookingRoles.Staff, a.Value);
        var (_, customer) = await app.CreateAndLoginAsync(BookingRoles.Customer);
        using var client = app.CreateClient();
        object NewStaff(string? tenant = null) => new { email = AuthApi.NewEmail("staff"), password = AuthApi.Password, role = "staff", tenant };

        using (var anonymous = await client.SendAsync(HttpMethod.Post, Users, accessToken: null, NewStaff(a.Value)))
        {
            await anonymous.AssertProblemAsync(HttpStatusCode.Unauthorized, "authentication-required");
        }

        foreach (var token in new[] { customer.AccessToken, staff.AccessToken })
        {
            using var refused = await client.SendAsync(HttpMethod.Post, Users, token, NewStaff(a.Value));
            await refused.AssertProblemAsync(HttpStatusCode.Forbidden);
        }

        // An owner: staff of their own business (tenant defaults to theirs) ...
        var staffEmail = AuthApi.NewEmail("staff");
        using (var created = await client.SendAsync(HttpMethod.Post, Users, owner.AccessToken, new { email = staffEmail, password = AuthApi.Password, role = "staff" }))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var json = await created.JsonAsync();
            Assert.Equal("staff", json.GetProperty("role").GetString());
            Assert.Equal(a.Value, json.GetProperty("tenant").GetString());
        }

        var newStaff = await client.LoginAsync(staffEmail);
        using (var me = await client.GetAsync("/api/v1/auth/me", newStaff.AccessToken))
        {
            var json = await me.JsonAsync();
            Assert.Equal("staff", json.GetProperty("role").GetString());
            Assert.Equal(a.Value, json.GetProperty("tenant").GetString());
        }

        // ... but no owner, no admin, no staff of another business (in the body or by naming it).
        using (var ownerOfOwn = await client.SendAsync(HttpMethod.Post, Users, owner.AccessToken, new { email = AuthApi.NewEmail(), password = AuthApi.Password, role = "owner", tenant = a.Value }))
        {
            await ownerOfOwn.AssertProblemAsync(HttpStatusCode.Forbidden, "owner-creates-staff-only");
        }

        using (var admin2 = await client.SendAsync(HttpMethod.Post, Users, owner.AccessToken, new { email = AuthApi.NewEmail(), password = AuthApi.Password, role = "platform-admin" }))
        {
            await admin2.AssertProblemAsync(HttpStatusCode.Forbidden, "owner-creates-staff-only");
        }

        using (var otherBusiness = await client.SendAsync(HttpMethod.Post, Users, owner.AccessToken, NewStaff(b.Value)))
        {
            await otherBusiness.AssertProblemAsync(HttpStatusCode.Forbidden, "other-business");
        }

        using (var namingOther = await client.SendAsync(HttpMethod.Post, Users, owner.AccessToken, NewStaff(b.Value), tenant: b.Value))
        {
            await namingOther.AssertProblemAsync(HttpStatusCode.Forbidden, "tenant-forbidden");
        }

        // A platform admin: an owner of any business, a premium customer; validation of the combinations.
        using (var newOwner = await client.SendAsync(HttpMethod.Post, Users, admin.AccessToken, new { email = AuthApi.NewEmail("owner"), password = AuthApi.Password, role = "owner", tenant = b.Value }))
        {
            Assert.Equal(HttpStatusCode.Created, newOwner.StatusCode);
            Assert.Equal(b.Value, (await newOwner.JsonAsync()).GetProperty("tenant").GetString());
        }

        using (var premium = await client.SendAsync(HttpMethod.Post, Users, admin.AccessToken, new { email = AuthApi.NewEmail(), password = AuthApi.Password, role = "customer", plan = "premium" }))
        {
            Assert.Equal(HttpStatusCode.Created, premium.StatusCode);
        }

        using (var noTenant = await client.SendAsync(HttpMethod.Post, Users, admin.AccessToken, new { email = AuthApi.NewEmail(), password = AuthApi.Password, role = "staff" }))
        {
            var errors = (await noTenant.AssertProblemAsync(HttpStatusCode.BadRequest, "validation-failed")).GetProperty("errors");
            Assert.True(errors.TryGetProperty("tenant", out _));
        }

        using (var unknownTenant = await client.SendAsync(HttpMethod.Post, Users, admin.AccessToken, NewStaff("biz-does-not-exist")))
        {
            var errors = (await unknownTenant.AssertProblemAsync(HttpStatusCode.BadRequest, "validation-failed")).GetProperty("errors");
            Assert.Contains("No business", errors.GetProperty("tenant")[0].GetString(), StringComparison.Ordinal);
        }

        using (var badRole = await client.SendAsync(HttpMethod.Post, Users, admin.AccessToken, new { email = AuthApi.NewEmail(), password = AuthApi.Password, role = "root" }))
        {
            var errors = (await badRole.AssertProblemAsync(HttpStatusCode.BadRequest, "validation-failed")).GetProperty("errors");
            Assert.True(errors.TryGetProperty("role", out _));
        }

        using var customerWithTenant = await client.SendAsync(HttpMethod.Post, Users, admin.AccessToken, new { email = AuthApi.NewEmail(), password = AuthApi.Password, role = "customer", tenant = a.Value });
        await customerWithTenant.AssertProblemAsync(HttpStatusCode.BadRequest, "validation-failed");
    }

    private sealed class Feature(TenantInfo tenant) : ITenantFeature
    {
        public TenantInfo Tenant => tenant;

        public string Source => "test";
    }
}
