using System.Security.Claims;
using BookingHost.Auth;
using BookingHost.Observability;
using Microsoft.AspNetCore.Http;

namespace BookingHost.Tests.Observability;

/// <summary>
/// Work a request starts in the background may log after the request ended (found by the load test: each such entry
/// read the disposed request, the logger threw, and the request answered 500).
/// </summary>
public sealed class RequestLogScopeTests
{
    [Fact]
    public void After_the_request_ended_the_scope_keeps_its_last_values_and_never_reads_the_request()
    {
        var context = new DefaultHttpContext { TraceIdentifier = "req-1" };
        var scope = new RequestLogScope(context);
        Assert.Null(scope[2].Value); // anonymous so far
        var user = Guid.NewGuid();
        context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(BookingClaims.UserId, user.ToString())], "test"));
        Assert.Equal(user.ToString(), scope[2].Value); // authentication ran: read live

        scope.Freeze();
        context.Uninitialize(); // the server recycles the context: reading it now throws ObjectDisposedException
        Assert.Equal(["TenantId", "RequestId", "UserId"], scope.Select(p => p.Key));
        Assert.Equal([null, "req-1", user.ToString()], scope.Select(p => p.Value as string));
    }

    [Fact]
    public void A_scope_read_while_the_request_is_being_torn_down_does_not_throw()
    {
        var context = new DefaultHttpContext { TraceIdentifier = "req-2" };
        var scope = new RequestLogScope(context);
        context.Uninitialize();
        Assert.Equal("req-2", scope[1].Value);
        Assert.Null(scope[0].Value);
        Assert.Null(scope[2].Value);
        Assert.Contains("RequestId:req-2", scope.ToString(), StringComparison.Ordinal);
    }
}
