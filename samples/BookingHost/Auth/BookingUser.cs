namespace BookingHost.Auth;

/// <summary>A user account (global: stored in the metadata database).</summary>
/// <param name="Id">The user's id (the <c>sub</c> claim).</param>
/// <param name="Email">The e-mail address, lower-cased.</param>
/// <param name="Role">One of <see cref="BookingRoles"/>.</param>
/// <param name="Tenant">The business of a staff member or owner; <see langword="null"/> for customers and platform admins.</param>
/// <param name="Plan">The rate-limit plan (<c>basic</c>, <c>premium</c>) or <see langword="null"/>.</param>
/// <param name="CreatedAt">When the account was created.</param>
public sealed record BookingUser(Guid Id, string Email, string Role, string? Tenant, string? Plan, DateTimeOffset CreatedAt);
