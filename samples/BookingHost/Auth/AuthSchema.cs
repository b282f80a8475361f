using Scaling.Tenancy.Migrations;

namespace BookingHost.Auth;

/// <summary>
/// The identity tables in the metadata database (global, like an identity service: one account works for every
/// business): users and refresh tokens. Migration versions 20–29 belong to this area.
/// </summary>
public static class AuthSchema
{
    /// <summary>The migrations (versions 20–21, metadata database only).</summary>
    public static SqlMigration[] Migrations() =>
    [
        new SqlMigration(20, "booking_users", MigrationScope.Metadata, """
            CREATE TABLE booking_users (
                id uuid PRIMARY KEY,
                email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
                password_hash text NOT NULL,
                role text NOT NULL CHECK (role IN ('customer', 'staff', 'owner', 'platform-admin')),
                tenant_id text,
                plan text CHECK (plan IN ('basic', 'premium')),
                created_at timestamptz NOT NULL DEFAULT now(),
                -- staff and owners belong to exactly one business; customers and platform admins to none
                CHECK ((role IN ('staff', 'owner')) = (tenant_id IS NOT NULL)));
            CREATE UNIQUE INDEX booking_users_email ON booking_users (email);
            CREATE INDEX booking_users_tenant ON booking_users (tenant_id) WHERE tenant_id IS NOT NULL;
            """),
        new SqlMigration(21, "booking_refresh_tokens", MigrationScope.Metadata, """
            CREATE TABLE booking_refresh_tokens (
                id uuid PRIMARY KEY,
                user_id uuid NOT NULL REFERENCES booking_users (id) ON DELETE CASCADE,
                token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
                family_id uuid NOT NULL,
                created_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                revoked_at timestamptz,
                replaced_by uuid,
                -- the access token issued together with this refresh token (revoked with the family on theft)
                access_token_id text,
                access_expires_at timestamptz);
            CREATE UNIQUE INDEX booking_refresh_tokens_hash ON booking_refresh_tokens (token_hash);
            CREATE INDEX booking_refresh_tokens_family ON booking_refresh_tokens (family_id);
            CREATE INDEX booking_refresh_tokens_user ON booking_refresh_tokens (user_id);
            """),
    ];
}
