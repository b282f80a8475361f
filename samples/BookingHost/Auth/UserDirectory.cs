using Microsoft.AspNetCore.Identity;
using Npgsql;

namespace BookingHost.Auth;

/// <summary>
/// The user accounts (table <c>booking_users</c> in the metadata database): creation with a hashed password
/// (ASP.NET Core Identity's <see cref="PasswordHasher{TUser}"/>: PBKDF2-HMAC-SHA512), look-up and credential checks.
/// </summary>
public sealed partial class UserDirectory
{
    private readonly AuthDatabase _database;
    private readonly IPasswordHasher<BookingUser> _hasher;
    private readonly TimeProvider _time;
    private readonly ILogger<UserDirectory> _logger;
    private readonly Lazy<string> _dummyHash;

    internal UserDirectory(AuthDatabase database, IPasswordHasher<BookingUser> hasher, TimeProvider time, ILogger<UserDirectory> logger)
    {
        _database = database;
        _hasher = hasher;
        _time = time;
        _logger = logger;
        _dummyHash = new Lazy<string>(() => _hasher.HashPassword(Placeholder, Guid.NewGuid().ToString()));
    }

    private static BookingUser Placeholder { get; } = new(Guid.Empty, "nobody@invalid.example", BookingRoles.Customer, null, null, DateTimeOffset.UnixEpoch);

    /// <summary>Creates an account.</summary>
    /// <param name="email">The e-mail address (stored trimmed and lower-cased; unique).</param>
    /// <param name="password">The password, 8 to 128 characters.</param>
    /// <param name="role">One of <see cref="BookingRoles"/>.</param>
    /// <param name="tenant">The business of a staff member or owner (required for them, forbidden for the other roles). Its existence is not checked here.</param>
    /// <param name="plan">The plan (<c>basic</c>, <c>premium</c>) or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the creation.</param>
    /// <returns>The new user.</returns>
    /// <exception cref="ArgumentException">A field is not valid (the message says which and why).</exception>
    /// <exception cref="DuplicateEmailException">An account with this e-mail address exists already.</exception>
    public async Task<BookingUser> CreateUserAsync(string email, string password, string role, string? tenant, string? plan, CancellationToken cancellationToken)
    {
        if (AccountValidation.CheckEmail(email, out var normalized) is { } emailError)
        {
            throw new ArgumentException(emailError, nameof(email));
        }

        if (AccountValidation.CheckPassword(password) is { } passwordError)
        {
            throw new ArgumentException(passwordError, nameof(password));
        }

        if (AccountValidation.CheckRole(role, tenant, plan) is { Count: > 0 } roleErrors)
        {
            var (field, messages) = roleErrors.First();
            throw new ArgumentException(messages[0], field);
        }

        var user = new BookingUser(Guid.CreateVersion7(), normalized, role, tenant, plan, _time.GetUtcNow());
        var hash = _hasher.HashPassword(user, password);
        return await _database.RunAsync<BookingUser>(async (connection, ct) =>
        {
            await using var insert = new NpgsqlCommand(
                "INSERT INTO booking_users (id, email, password_hash, role, tenant_id, plan, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                connection);
            insert.Parameters.Add(new() { Value = user.Id });
            insert.Parameters.Add(new() { Value = user.Email });
            insert.Parameters.Add(new() { Value = hash });
            insert.Parameters.Add(new() { Value = user.Role });
            insert.Parameters.Add(new() { Value = (object?)user.Tenant ?? DBNull.Value });
            insert.Parameters.Add(new() { Value = (object?)user.Plan ?? DBNull.Value });
            insert.Parameters.Add(new() { Value = user.CreatedAt });
            try
            {
                await insert.ExecuteNonQueryAsync(ct);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
            {
                throw new DuplicateEmailException("An account with this e-mail address exists already.", e);
            }

            LogUserCreated(_logger, user.Id, user.Role, user.Tenant);
            return user;
        }, cancellationToken);
    }

    /// <summary>Finds a user by id.</summary>
    /// <param name="id">The user's id.</param>
    /// <param name="cancellationToken">Cancels the look-up.</param>
    /// <returns>The user, or <see langword="null"/>.</returns>
    public async Task<BookingUser?> FindAsync(Guid id, CancellationToken cancellationToken)
    {
        return await _database.RunAsync<BookingUser?>(async (connection, ct) =>
        {
            await using var select = new NpgsqlCommand("SELECT id, email, role, tenant_id, plan, created_at, password_hash FROM booking_users WHERE id = $1", connection);
            select.Parameters.Add(new() { Value = id });
            return (await ReadAsync(select, ct))?.User;
        }, cancellationToken);
    }

    /// <summary>Finds a user by e-mail address (case-insensitive).</summary>
    /// <param name="email">The e-mail address.</param>
    /// <param name="cancellationToken">Cancels the look-up.</param>
    /// <returns>The user, or <see langword="null"/>.</returns>
    public async Task<BookingUser?> FindByEmailAsync(string email, CancellationToken cancellationToken)
        => (await FindWithHashAsync(email, cancellationToken))?.User;

    /// <summary>
    /// Checks an e-mail address and password. An unknown address costs a password verification too, so the answer
    /// takes about as long either way and does not tell which of the two was wrong.
    /// </summary>
    /// <param name="email">The e-mail address.</param>
    /// <param name="password">The password.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>The user when both match; otherwise <see langword="null"/>.</returns>
    public async Task<BookingUser?> VerifyCredentialsAsync(string email, string password, CancellationToken cancellationToken)
    {
        var found = await FindWithHashAsync(email, cancellationToken);
        if (found is null)
        {
            _ = _hasher.VerifyHashedPassword(Placeholder, _dummyHash.Value, password);
            return null;
        }

        var result = _hasher.VerifyHashedPassword(found.Value.User, found.Value.Hash, password);
        if (result == PasswordVerificationResult.SuccessRehashNeeded)
        {
            await UpdateHashAsync(found.Value.User, password, cancellationToken);
        }

        return result == PasswordVerificationResult.Failed ? null : found.Value.User;
    }

    private async Task<(BookingUser User, string Hash)?> FindWithHashAsync(string email, CancellationToken cancellationToken)
    {
        return await _database.RunAsync<(BookingUser User, string Hash)?>(async (connection, ct) =>
        {
            await using var select = new NpgsqlCommand("SELECT id, email, role, tenant_id, plan, created_at, password_hash FROM booking_users WHERE email = $1", connection);
            select.Parameters.Add(new() { Value = email.Trim().ToLowerInvariant() });
            return await ReadAsync(select, ct);
        }, cancellationToken);
    }

    private async Task UpdateHashAsync(BookingUser user, string password, CancellationToken cancellationToken)
    {
        _ = await _database.RunAsync<bool>(async (connection, ct) =>
        {
            await using var update = new NpgsqlCommand("UPDATE booking_users SET password_hash = $2 WHERE id = $1", connection);
            update.Parameters.Add(new() { Value = user.Id });
            update.Parameters.Add(new() { Value = _hasher.HashPassword(user, password) });
            await update.ExecuteNonQueryAsync(ct);
            return true;
        }, cancellationToken);
    }

    private static async Task<(BookingUser User, string Hash)?> ReadAsync(NpgsqlCommand select, CancellationToken cancellationToken)
    {
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var user = new BookingUser(
            reader.GetGuid(0),
            reader.GetString(1),
            reader.GetString(2),
            reader.IsDBNull(3) ? null : reader.GetString(3),
            reader.IsDBNull(4) ? null : reader.GetString(4),
            reader.GetFieldValue<DateTimeOffset>(5));
        return (user, reader.GetString(6));
    }

    [LoggerMessage(301, LogLevel.Information, "Created user {UserId} with role {Role} (business {Tenant})")]
    private static partial void LogUserCreated(ILogger logger, Guid userId, string role, string? tenant);
}
