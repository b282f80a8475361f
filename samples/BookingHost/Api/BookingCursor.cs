using System.Globalization;
using System.Text;

namespace BookingHost.Api;

/// <summary>
/// The opaque <c>cursor</c> of <c>GET /bookings</c>: the start time and id of the last booking of a page (keyset
/// pagination), as URL-safe base64 of <c>{utcTicks}|{id:N}</c>.
/// </summary>
public static class BookingCursor
{
    /// <summary>The cursor of the page after the booking at <paramref name="at"/> with <paramref name="id"/>.</summary>
    public static string Encode(DateTimeOffset at, Guid id)
        => Convert.ToBase64String(Encoding.ASCII.GetBytes($"{at.UtcTicks.ToString(CultureInfo.InvariantCulture)}|{id:N}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The position a cursor names, or <see langword="null"/> when it is not a cursor this API returned.</summary>
    public static (DateTimeOffset At, Guid Id)? Decode(string cursor)
    {
        try
        {
            var text = cursor.Replace('-', '+').Replace('_', '/');
            text = text.PadRight(text.Length + ((4 - (text.Length % 4)) % 4), '=');
            var parts = Encoding.ASCII.GetString(Convert.FromBase64String(text)).Split('|');
            return parts.Length == 2 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) && Guid.TryParseExact(parts[1], "N", out var id)
                && ticks >= DateTimeOffset.MinValue.UtcTicks && ticks <= DateTimeOffset.MaxValue.UtcTicks
                ? (new DateTimeOffset(ticks, TimeSpan.Zero), id)
                : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
