namespace BookingHost.Auth;

/// <summary>The body of <c>POST /api/v1/auth/register</c>.</summary>
public sealed class RegisterRequest
{
    /// <summary>Gets or sets the e-mail address (at most 254 characters).</summary>
    public string? Email { get; set; }

    /// <summary>Gets or sets the password (8 to 128 characters).</summary>
    public string? Password { get; set; }
}

/// <summary>The body of <c>POST /api/v1/auth/login</c>.</summary>
public sealed class LoginRequest
{
    /// <summary>Gets or sets the e-mail address.</summary>
    public string? Email { get; set; }

    /// <summary>Gets or sets the password.</summary>
    public string? Password { get; set; }
}

/// <summary>The body of <c>POST /api/v1/auth/refresh</c>, and the optional body of <c>POST /api/v1/auth/logout</c>.</summary>
public sealed class RefreshRequest
{
    /// <summary>Gets or sets the refresh token.</summary>
    public string? RefreshToken { get; set; }
}

/// <summary>The body of <c>POST /api/v1/auth/users</c>.</summary>
public sealed class CreateUserRequest
{
    /// <summary>Gets or sets the e-mail address.</summary>
    public string? Email { get; set; }

    /// <summary>Gets or sets the initial password.</summary>
    public string? Password { get; set; }

    /// <summary>Gets or sets the role (one of <see cref="BookingRoles"/>).</summary>
    public string? Role { get; set; }

    /// <summary>Gets or sets the business of a staff member or owner (an owner may leave it out: their own).</summary>
    public string? Tenant { get; set; }

    /// <summary>Gets or sets the plan (platform admins only).</summary>
    public string? Plan { get; set; }
}

/// <summary>An account as the API returns it.</summary>
/// <param name="Id">The user's id.</param>
/// <param name="Email">The e-mail address (lower-cased).</param>
/// <param name="Role">The role.</param>
/// <param name="Tenant">The business of a staff member or owner.</param>
/// <param name="Plan">The plan.</param>
/// <param name="CreatedAt">When it was created.</param>
public sealed record UserResponse(Guid Id, string Email, string Role, string? Tenant, string? Plan, DateTimeOffset CreatedAt)
{
    internal static UserResponse From(BookingUser user) => new(user.Id, user.Email, user.Role, user.Tenant, user.Plan, user.CreatedAt);
}

/// <summary>The tokens of a login or refresh.</summary>
/// <param name="AccessToken">The access token (a JWT for <c>Authorization: Bearer</c>).</param>
/// <param name="ExpiresAt">When the access token expires.</param>
/// <param name="RefreshToken">The single-use refresh token.</param>
/// <param name="RefreshExpiresAt">When the refresh token expires.</param>
/// <param name="TokenType">Always <c>Bearer</c>.</param>
public sealed record TokenResponse(string AccessToken, DateTimeOffset ExpiresAt, string RefreshToken, DateTimeOffset RefreshExpiresAt, string TokenType = "Bearer")
{
    internal static TokenResponse From(TokenPair pair) => new(pair.Access.Token, pair.Access.ExpiresAt, pair.Refresh.Token, pair.Refresh.ExpiresAt);
}

/// <summary>The signed-in user as their access token describes them (<c>GET /api/v1/auth/me</c>).</summary>
/// <param name="Id">The user's id.</param>
/// <param name="Role">The role.</param>
/// <param name="Tenant">The business of a staff member or owner.</param>
/// <param name="Plan">The plan.</param>
/// <param name="TokenId">The access token's id.</param>
public sealed record MeResponse(Guid Id, string? Role, string? Tenant, string? Plan, string? TokenId);
