using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features.Authentication;

namespace Scaling;

/// <summary>
/// The user of a request as authentication set it. Shared as source by the packages that read a request's claims
/// (tenant resolution, rate limiting).
/// </summary>
internal static class RequestUser
{
    /// <summary>
    /// The user that authentication set, or <see langword="null"/> when none did: a <see cref="DefaultHttpContext"/>'s
    /// <see cref="HttpContext.User"/> would make an empty principal on first read (an allocation per anonymous request,
    /// with no claim in it to find). Other <see cref="HttpContext"/> implementations are read through their
    /// <see cref="HttpContext.User"/>.
    /// </summary>
    internal static ClaimsPrincipal? Of(HttpContext context)
        => context is DefaultHttpContext ? context.Features.Get<IHttpAuthenticationFeature>()?.User : context.User;
}
