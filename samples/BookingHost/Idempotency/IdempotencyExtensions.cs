using BookingHost.Infrastructure;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace BookingHost.Idempotency;

/// <summary>
/// <c>Idempotency-Key</c> on POST creates: <see cref="AddBookingIdempotency"/> registers the Redis store (shared by
/// every instance), <see cref="WithIdempotency{TBuilder}"/> marks an endpoint (see <see cref="IdempotencyHandler"/>).
/// </summary>
public static class IdempotencyExtensions
{
    /// <summary>Registers the idempotency store and handler (options from <c>BookingHost:Idempotency</c>).</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The host configuration.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddBookingIdempotency(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<IdempotencyOptions>().Bind(configuration.GetSection(IdempotencyOptions.SectionName))
            .Validate(o => o.PendingTimeout >= TimeSpan.FromSeconds(1) && o.PendingTimeout <= TimeSpan.FromMinutes(10), "BookingHost:Idempotency:PendingTimeout must be between 1 second and 10 minutes.")
            .Validate(o => o.Retention >= TimeSpan.FromMinutes(1) && o.Retention <= TimeSpan.FromDays(7), "BookingHost:Idempotency:Retention must be between 1 minute and 7 days.")
            .Validate(o => o.MaxRequestBytes > 0 && o.MaxResponseBytes > 0, "BookingHost:Idempotency:MaxRequestBytes and MaxResponseBytes must be positive.")
            .Validate(o => Enum.IsDefined(o.WhenStoreUnavailable), "BookingHost:Idempotency:WhenStoreUnavailable must be Reject or RunWithoutIdempotency.")
            .ValidateOnStart();
        services.TryAddSingleton<RedisConnections>();
        services.TryAddSingleton<BookingRedisConnection>();
        services.TryAddSingleton<IdempotencyStore>();
        services.TryAddSingleton<IdempotencyHandler>();
        return services;
    }

    /// <summary>
    /// Makes a POST (or PATCH) endpoint honour <c>Idempotency-Key</c>. The handler wraps the endpoint's request
    /// delegate (after authentication, tenant resolution and authorization; before parameter binding, so it can
    /// fingerprint the body), hence a request refused before the endpoint (401, 403, 429) is never stored.
    /// </summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The endpoint.</param>
    /// <returns>The builder.</returns>
    public static TBuilder WithIdempotency<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Add(endpoint => endpoint.Metadata.Add(new IdempotentEndpointMetadata()));
        builder.Finally(endpoint =>
        {
            var inner = endpoint.RequestDelegate
                ?? throw new InvalidOperationException($"The endpoint '{endpoint.DisplayName}' has no request delegate to make idempotent.");
            endpoint.RequestDelegate = http => http.RequestServices.GetRequiredService<IdempotencyHandler>().InvokeAsync(http, inner);
        });
        return builder;
    }
}

/// <summary>Marks an endpoint that honours <c>Idempotency-Key</c> (for documentation and discovery).</summary>
public sealed class IdempotentEndpointMetadata;
