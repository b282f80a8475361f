namespace BookingHost.Auth;

/// <summary>PLACEHOLDER until the auth work lands: no login, refresh or logout endpoints yet.</summary>
public static class AuthEndpoints
{
    /// <summary>Maps <c>/auth/...</c>.</summary>
    public static IEndpointRouteBuilder MapBookingAuth(this IEndpointRouteBuilder endpoints) => endpoints;
}
