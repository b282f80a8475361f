using Microsoft.Net.Http.Headers;

namespace BookingHost.Auth;

/// <summary>The authentication step of BookingHost's request pipeline.</summary>
public static class AuthApplicationBuilderExtensions
{
    /// <summary>
    /// Authenticates the requests that carry an <c>Authorization</c> header (ASP.NET Core's authentication middleware,
    /// the bearer scheme). The bearer scheme reads its token from that header only, so a request without one is
    /// anonymous whatever the handler does; it goes on without the handler, its request scope and its tasks being
    /// made for it (about a fifth of what an anonymous request allocated in the pipeline). Authorization is unchanged:
    /// an anonymous request to an endpoint that needs a user is challenged by the bearer scheme (401 with
    /// <c>WWW-Authenticate: Bearer</c>) as before. Should the bearer scheme ever read a token from elsewhere (a query
    /// string for browsers' event streams, say), this condition must look there too.
    /// </summary>
    public static IApplicationBuilder UseBookingAuthentication(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.UseWhen(static context => context.Request.Headers.ContainsKey(HeaderNames.Authorization), branch =>
        {
            branch.UseAuthentication();

            // UseAuthentication marks the builder it is on; a branch's marks stay in the branch. Marked on the main
            // pipeline too, the host does not add a second authentication step of its own in front of everything
            // (WebApplication does when it finds authentication registered and the pipeline unmarked).
            foreach (var (key, value) in branch.Properties)
            {
                app.Properties.TryAdd(key, value);
            }
        });
    }
}
