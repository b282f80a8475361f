using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Scaling.Tenancy.Resolution;

/// <summary>
/// Reads the tenant identifier from a route value (by default <c>tenant</c>, as in <c>/{tenant}/bookings</c>).
/// Routing must have matched the request before the tenant resolution middleware runs: <c>WebApplication</c> does this
/// by itself; with an explicit <c>app.UseRouting()</c>, call <c>app.UseScalingTenantResolution()</c> after it.
/// </summary>
/// <remarks>A request whose endpoint has no such route value is "not applicable". The value is the decoded path segment.</remarks>
public sealed class RouteValueTenantResolutionStrategy : ITenantResolutionStrategy
{
    /// <summary>The default route value name: <c>tenant</c>.</summary>
    public const string DefaultRouteKey = "tenant";

    /// <summary>Initializes a new instance.</summary>
    /// <param name="routeKey">The name of the route value (the route parameter) that holds the tenant id.</param>
    /// <exception cref="ArgumentException"><paramref name="routeKey"/> is empty or white space.</exception>
    public RouteValueTenantResolutionStrategy(string routeKey = DefaultRouteKey)
    {
        ArgumentNullException.ThrowIfNull(routeKey);
        if (string.IsNullOrWhiteSpace(routeKey))
        {
            throw new ArgumentException("The route value name is empty or white space; name the route parameter that holds the tenant id, e.g. 'tenant' as in '/{tenant}/bookings'.", nameof(routeKey));
        }

        RouteKey = routeKey;
    }

    /// <summary>Gets the name of the route value that holds the tenant id.</summary>
    public string RouteKey { get; }

    /// <inheritdoc />
    public string Name => $"route value '{RouteKey}'";

    /// <inheritdoc />
    public ValueTask<string?> GetIdentifierAsync(HttpContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var value = context.GetRouteValue(RouteKey);
        return new ValueTask<string?>(value is null ? null : Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty);
    }
}
