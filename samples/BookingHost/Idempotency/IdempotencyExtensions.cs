namespace BookingHost.Idempotency;

/// <summary>
/// <c>Idempotency-Key</c> on POST creates. PLACEHOLDER until the idempotency work lands: the filter passes requests
/// through unchanged.
/// </summary>
public static class IdempotencyExtensions
{
    /// <summary>Registers the idempotency store.</summary>
    public static IServiceCollection AddBookingIdempotency(this IServiceCollection services, IConfiguration configuration) => services;

    /// <summary>Makes a POST endpoint honour <c>Idempotency-Key</c>.</summary>
    public static TBuilder WithIdempotency<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder;
}
