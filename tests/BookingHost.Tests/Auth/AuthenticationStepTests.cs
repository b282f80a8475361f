using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Scaling.Testing;

namespace BookingHost.Tests.Auth;

/// <summary>
/// The pipeline's authentication step (<c>UseBookingAuthentication</c>): a request without an <c>Authorization</c>
/// header gets no bearer handler; one with it is authenticated once (not again by a step ASP.NET Core adds by itself);
/// an anonymous request to an endpoint that needs a user is still challenged.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class AuthenticationStepTests(ServersFixture fixture)
{
    [Fact]
    public async Task Only_a_request_with_credentials_is_authenticated_and_only_once()
    {
        var requests = new HandlerRequests();
        await using var app = await BookingApp.StartAsync(fixture.Servers, configure: b => b.ConfigureTestServices(s =>
        {
            s.AddSingleton(requests);
            s.AddScoped<IAuthenticationHandlerProvider, CountingHandlerProvider>();
        }));
        using var client = app.CreateClient();
        var email = AuthApi.NewEmail();
        await client.RegisterAsync(email);
        var tokens = await client.LoginAsync(email);
        Assert.Equal(0, requests.For("/api/v1/auth/register"));
        Assert.Equal(0, requests.For("/api/v1/auth/login"));

        using (var me = await client.GetAsync("/api/v1/auth/me", tokens.AccessToken))
        {
            Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        }

        Assert.Equal(1, requests.For("/api/v1/auth/me"));

        using (var anonymous = await client.GetAsync("/api/v1/auth/me", accessToken: null))
        {
            await anonymous.AssertProblemAsync(HttpStatusCode.Unauthorized);
            Assert.Contains("Bearer", anonymous.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        }

        Assert.Equal(2, requests.For("/api/v1/auth/me")); // the challenge's handler, and nothing before it
    }

    /// <summary>How many times a handler was asked for, by request path.</summary>
    private sealed class HandlerRequests
    {
        private readonly ConcurrentDictionary<string, int> _byPath = new(StringComparer.Ordinal);

        public void Add(string path) => _byPath.AddOrUpdate(path, 1, static (_, n) => n + 1);

        public int For(string path) => _byPath.GetValueOrDefault(path);
    }

    private sealed class CountingHandlerProvider(IAuthenticationSchemeProvider schemes, HandlerRequests requests) : IAuthenticationHandlerProvider
    {
        private readonly AuthenticationHandlerProvider _inner = new(schemes);

        public Task<IAuthenticationHandler?> GetHandlerAsync(HttpContext context, string authenticationScheme)
        {
            requests.Add(context.Request.Path.Value ?? "/");
            return _inner.GetHandlerAsync(context, authenticationScheme);
        }
    }
}
