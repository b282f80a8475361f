using Scaling.Tenancy.Sharding;

namespace BookingHost.Api;

/// <summary>
/// Read-your-writes across requests: a write answers with its token in the <c>X-Consistency-Token</c> header and a
/// cookie; the client's next read sends either back and is served by a replica that has the write (or the primary).
/// </summary>
public static class ConsistencyTokens
{
    /// <summary>The header name.</summary>
    public const string HeaderName = "X-Consistency-Token";

    /// <summary>The cookie name.</summary>
    public const string CookieName = "consistency-token";

    /// <summary>The token of the request (header first, then cookie); an invalid one is ignored.</summary>
    public static ShardConsistencyToken? Read(HttpContext http)
    {
        var text = http.Request.Headers[HeaderName].ToString();
        if (string.IsNullOrEmpty(text))
        {
            text = http.Request.Cookies[CookieName];
        }

        return ShardConsistencyToken.TryParse(text, out var token) ? token : null;
    }

    /// <summary>Sends a write's token to the client.</summary>
    public static void Write(HttpContext http, ShardConsistencyToken? token)
    {
        if (token is not { } value)
        {
            return;
        }

        var text = value.ToString();
        http.Response.Headers[HeaderName] = text;
        http.Response.Cookies.Append(CookieName, text, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Lax, MaxAge = TimeSpan.FromMinutes(5), Path = "/" });
    }
}
