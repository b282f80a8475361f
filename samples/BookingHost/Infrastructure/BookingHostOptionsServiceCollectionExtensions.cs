using Microsoft.Extensions.Options;

namespace BookingHost.Infrastructure;

/// <summary>Registers <see cref="BookingHostOptions"/>.</summary>
public static class BookingHostOptionsServiceCollectionExtensions
{
    /// <summary>
    /// Reads the host's settings once: binds the <c>BookingHost</c> section, validates it with
    /// <see cref="BookingHostOptionsValidator"/> (a bad setting throws <see cref="OptionsValidationException"/>, so the
    /// host stops before it serves) and registers the result as <see cref="IOptions{TOptions}"/>, which every service
    /// takes. The same instance is returned for the settings the host needs while it is being built (Kestrel's body
    /// limit, the rate-limit tiers, tenant resolution).
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The host configuration.</param>
    /// <returns>The validated settings.</returns>
    public static BookingHostOptions AddBookingHostOptions(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var options = configuration.GetSection(BookingHostOptions.SectionName).Get<BookingHostOptions>() ?? new BookingHostOptions();
        var validation = new BookingHostOptionsValidator().Validate(Options.DefaultName, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(BookingHostOptions), validation.Failures);
        }

        services.AddSingleton(Options.Create(options));
        return options;
    }
}
