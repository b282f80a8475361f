using System.Globalization;
using System.Runtime.CompilerServices;

namespace Scaling.RateLimit;

/// <summary>
/// Formats the values of the <c>RateLimit-Policy</c> and <c>RateLimit</c> HTTP response header
/// fields of the IETF draft "RateLimit header fields for HTTP"
/// (draft-ietf-httpapi-ratelimit-headers-08, whose field syntax -09 keeps).
/// </summary>
/// <remarks>
/// <para>
/// Both fields are Structured Field Lists (RFC 9651). Each member is the policy's name as a
/// structured-field string, followed by parameters:
/// </para>
/// <list type="bullet">
/// <item><description>
/// <c>RateLimit-Policy</c>: <c>q</c>, the quota (<see cref="RateLimitTier.PermitLimit"/>), and <c>w</c>,
/// the window in seconds, e.g. <c>"anonymous";q=100;w=60</c>; several policies are separated by
/// <c>, </c>.
/// </description></item>
/// <item><description>
/// <c>RateLimit</c>: <c>r</c>, the remaining quota, and <c>t</c>, the seconds until the quota resets,
/// e.g. <c>"anonymous";r=42;t=17</c>.
/// </description></item>
/// </list>
/// <para>
/// The earlier drafts (up to -06) used separate <c>RateLimit-Limit</c>, <c>RateLimit-Remaining</c> and
/// <c>RateLimit-Reset</c> fields; those are not produced.
/// </para>
/// </remarks>
public static class RateLimitHeaderFormatter
{
    /// <summary>The name of the header field that states the quota policies: <c>RateLimit-Policy</c>.</summary>
    public const string PolicyHeaderName = "RateLimit-Policy";

    /// <summary>The name of the header field that states the current limits: <c>RateLimit</c>.</summary>
    public const string RateLimitHeaderName = "RateLimit";

    /// <summary>Formats the <c>RateLimit-Policy</c> field value for one or more policies.</summary>
    /// <param name="policies">The policies that apply to the request, in the order to list them; at least one.</param>
    /// <returns>The field value, e.g. <c>"burst";q=10;w=1, "anonymous";q=100;w=60</c>.</returns>
    /// <exception cref="ArgumentException"><paramref name="policies"/> is empty or contains <see langword="null"/>.</exception>
    public static string FormatPolicy(params ReadOnlySpan<RateLimitTier> policies)
    {
        if (policies.IsEmpty)
        {
            throw new ArgumentException("At least one policy is required: the RateLimit-Policy field is a non-empty list.", nameof(policies));
        }

        var value = new DefaultInterpolatedStringHandler(0, 0, CultureInfo.InvariantCulture, stackalloc char[256]);
        for (var i = 0; i < policies.Length; i++)
        {
            var policy = policies[i] ?? throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The policy at index {i} is null."),
                nameof(policies));
            if (i > 0)
            {
                value.AppendLiteral(", ");
            }

            StructuredFieldString.AppendQuoted(ref value, policy.Name);
            value.AppendLiteral(";q=");
            value.AppendFormatted(policy.PermitLimit);
            value.AppendLiteral(";w=");
            value.AppendFormatted(policy.Window.Ticks / TimeSpan.TicksPerSecond);
        }

        return value.ToStringAndClear();
    }

    /// <summary>Formats the <c>RateLimit-Policy</c> field value for one or more policies.</summary>
    /// <param name="policies">The policies that apply to the request, in the order to list them; at least one.</param>
    /// <returns>The field value, e.g. <c>"burst";q=10;w=1, "anonymous";q=100;w=60</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="policies"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="policies"/> is empty or contains <see langword="null"/>.</exception>
    public static string FormatPolicy(IEnumerable<RateLimitTier> policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        RateLimitTier[] array = [.. policies];
        return FormatPolicy(new ReadOnlySpan<RateLimitTier>(array));
    }

    /// <summary>Formats the <c>RateLimit</c> field value for one policy.</summary>
    /// <param name="policy">The policy the values belong to.</param>
    /// <param name="remaining">The quota remaining in the current window; from 0 to the policy's <see cref="RateLimitTier.PermitLimit"/>.</param>
    /// <param name="resetAfter">
    /// The time until the quota resets. It is sent as whole seconds rounded up (so a client that waits
    /// that long is never early), and as 0 when it is zero or negative (the reset is due now).
    /// </param>
    /// <returns>The field value, e.g. <c>"anonymous";r=42;t=17</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="policy"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="remaining"/> is negative or greater than the policy's permit limit.</exception>
    public static string FormatRateLimit(RateLimitTier policy, long remaining, TimeSpan resetAfter)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (remaining < 0 || remaining > policy.PermitLimit)
        {
            throw new ArgumentOutOfRangeException(
                nameof(remaining),
                remaining,
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"The remaining quota of policy {DisplayText.Quote(policy.Name)} must be between 0 and its permit limit {policy.PermitLimit}; it was {remaining}."));
        }

        var value = new DefaultInterpolatedStringHandler(0, 0, CultureInfo.InvariantCulture, stackalloc char[128]);
        AppendRateLimit(ref value, policy, remaining, resetAfter);
        return value.ToStringAndClear();
    }

    /// <summary>
    /// Appends the <c>RateLimit</c> field value of one policy, as <see cref="FormatRateLimit"/> returns it, with no
    /// string of its own (the middleware writes every policy's member into one value). The caller has checked
    /// <paramref name="remaining"/>.
    /// </summary>
    internal static void AppendRateLimit(ref DefaultInterpolatedStringHandler value, RateLimitTier policy, long remaining, TimeSpan resetAfter)
    {
        StructuredFieldString.AppendQuoted(ref value, policy.Name);
        value.AppendLiteral(";r=");
        value.AppendFormatted(remaining);
        value.AppendLiteral(";t=");
        value.AppendFormatted(SecondsRoundedUp(resetAfter));
    }

    private static long SecondsRoundedUp(TimeSpan duration)
    {
        if (duration <= TimeSpan.Zero)
        {
            return 0;
        }

        // Written so as not to overflow for TimeSpan.MaxValue.
        return (duration.Ticks / TimeSpan.TicksPerSecond) + (duration.Ticks % TimeSpan.TicksPerSecond == 0 ? 0 : 1);
    }
}
