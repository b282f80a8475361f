namespace BookingHost.Auth;

/// <summary>The claim types of BookingHost's access tokens.</summary>
public static class BookingClaims
{
    /// <summary>The user's id (a GUID).</summary>
    public const string UserId = "sub";

    /// <summary>The user's role: one of <see cref="BookingRoles"/>.</summary>
    public const string Role = "role";

    /// <summary>The business (tenant) a staff member or owner belongs to; absent for customers and platform admins.</summary>
    public const string Tenant = "tenant";

    /// <summary>The subscription plan of the user's tier for rate limiting (<c>premium</c> or absent).</summary>
    public const string Plan = "plan";

    /// <summary>The token's unique id (for revocation).</summary>
    public const string TokenId = "jti";
}

/// <summary>The roles of BookingHost's users.</summary>
public static class BookingRoles
{
    /// <summary>Books appointments; sees only their own bookings.</summary>
    public const string Customer = "customer";

    /// <summary>Works at one business: sees and manages its bookings and queues.</summary>
    public const string Staff = "staff";

    /// <summary>Owns one business: everything staff can, plus its settings, services and staff.</summary>
    public const string Owner = "owner";

    /// <summary>Operates the platform: creates and moves tenants, runs cross-shard analytics.</summary>
    public const string PlatformAdmin = "platform-admin";

    /// <summary>All roles.</summary>
    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal) { Customer, Staff, Owner, PlatformAdmin };
}

/// <summary>The authorization policies endpoints use.</summary>
public static class BookingPolicies
{
    /// <summary>Any signed-in user.</summary>
    public const string SignedIn = "signed-in";

    /// <summary>Staff or owner of the request's business (the resolution middleware has already refused another business's staff with 403).</summary>
    public const string BusinessStaff = "business-staff";

    /// <summary>Owner of the request's business.</summary>
    public const string BusinessOwner = "business-owner";

    /// <summary>A platform admin.</summary>
    public const string PlatformAdmin = "platform-admin";

    /// <summary>Someone who may create accounts: a platform admin (any role) or an owner (staff of their own business; the endpoint checks the rest).</summary>
    public const string UserAdministrator = "user-administrator";
}
