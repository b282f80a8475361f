using BookingHost.Infrastructure;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace BookingHost.Reminders;

/// <summary>Registers the reminder queue.</summary>
public static class ReminderExtensions
{
    /// <summary>
    /// Registers the reminder tables (migration 10, tenant tables <see cref="ReminderSchema.TenantTables"/>), the
    /// <see cref="ReminderWorker"/>, the default <see cref="RecordingReminderSender"/> (register your own
    /// <see cref="IReminderSender"/> to replace it) and <see cref="ReminderOptions"/> (section <c>BookingHost:Reminders</c>, validated on start).
    /// </summary>
    public static IServiceCollection AddBookingReminders(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddBookingMigrations("reminders", ReminderSchema.TenantTables, host => ReminderSchema.Migrations(host.TenantRole));
        services.AddOptions<ReminderOptions>().Bind(configuration.GetSection(ReminderOptions.SectionName))
            .Validate(o => o.HourBefore > TimeSpan.Zero && o.DayBefore > o.HourBefore, "BookingHost:Reminders: HourBefore must be positive and DayBefore longer than HourBefore.")
            .Validate(o => o.PollInterval >= TimeSpan.FromMilliseconds(10) && o.PollInterval <= TimeSpan.FromMinutes(10), "BookingHost:Reminders:PollInterval must be between 10 ms and 10 minutes.")
            .Validate(o => o.BatchSize is >= 1 and <= 1000, "BookingHost:Reminders:BatchSize must be between 1 and 1000.")
            .Validate(o => o.MaxAttempts is >= 1 and <= 100, "BookingHost:Reminders:MaxAttempts must be between 1 and 100.")
            .Validate(o => o.RetryBaseDelay > TimeSpan.Zero && o.MaxRetryDelay >= o.RetryBaseDelay, "BookingHost:Reminders: RetryBaseDelay must be positive and MaxRetryDelay at least RetryBaseDelay.")
            .Validate(o => o.SendTimeout > TimeSpan.Zero && o.SendTimeout <= TimeSpan.FromMinutes(5), "BookingHost:Reminders:SendTimeout must be between 0 and 5 minutes.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IReminderSender>(_ => new RecordingReminderSender());
        services.AddHostedService<ReminderWorker>();
        return services;
    }
}
