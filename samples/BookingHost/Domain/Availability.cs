namespace BookingHost.Domain;

/// <summary>Free slots and working-hours checks, in the business's time zone.</summary>
public static class Availability
{
    /// <summary>The UTC instants of a local date and time (none in a DST gap).</summary>
    public static DateTimeOffset? ToUtc(DateOnly day, TimeOnly time, TimeZoneInfo zone)
    {
        var local = day.ToDateTime(time, DateTimeKind.Unspecified);
        return zone.IsInvalidTime(local) ? null : new DateTimeOffset(TimeZoneInfo.ConvertTimeToUtc(local, zone), TimeSpan.Zero);
    }

    /// <summary>The free start times of a service of <paramref name="durationMinutes"/> on <paramref name="day"/>.</summary>
    public static IReadOnlyList<DateTimeOffset> FreeSlots(
        DateOnly day,
        TimeZoneInfo zone,
        WorkingHoursView? hours,
        int slotMinutes,
        int durationMinutes,
        IReadOnlyList<(DateTimeOffset Start, DateTimeOffset End)> taken,
        DateTimeOffset now)
    {
        if (hours is null || ToUtc(day, hours.Opens, zone) is not { } opens || ToUtc(day, hours.Closes, zone) is not { } closes)
        {
            return [];
        }

        var slots = new List<DateTimeOffset>();
        var duration = TimeSpan.FromMinutes(durationMinutes);
        for (var start = opens; start + duration <= closes; start += TimeSpan.FromMinutes(slotMinutes))
        {
            var end = start + duration;
            if (start > now && !taken.Any(t => t.Start < end && start < t.End))
            {
                slots.Add(start);
            }
        }

        return slots;
    }

    /// <summary>Whether [start, end) lies within the working hours of the local day it starts on.</summary>
    public static bool WithinHours(DateTimeOffset start, DateTimeOffset end, TimeZoneInfo zone, IReadOnlyList<WorkingHoursView> hours, out DateOnly localDay)
    {
        var local = TimeZoneInfo.ConvertTime(start, zone);
        localDay = DateOnly.FromDateTime(local.DateTime);
        var weekday = (int)local.DayOfWeek;
        var day = localDay;
        return hours.FirstOrDefault(h => h.Weekday == weekday) is { } h
            && ToUtc(day, h.Opens, zone) is { } opens
            && ToUtc(day, h.Closes, zone) is { } closes
            && start >= opens && end <= closes;
    }
}
