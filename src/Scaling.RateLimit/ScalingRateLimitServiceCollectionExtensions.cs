using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Scaling.RateLimit;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Scaling.RateLimit in a service collection.</summary>
public static class ScalingRateLimitServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="RedisRateLimiter"/> and <see cref="RedisPartitionedRateLimiter"/> (singletons) configured by
    /// <paramref name="configure"/>; the options are validated when the host starts, and may be changed at run time
    /// through the options system (e.g. <c>services.Configure&lt;ScalingRateLimitOptions&gt;(configuration.GetSection(…))</c>).
    /// Then add <c>app.UseScalingRateLimit()</c>, or use the limiter with ASP.NET Core's rate limiting
    /// (<see cref="AddScalingGlobalRateLimiter"/>).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options, e.g. <c>o =&gt; o.RedisConfiguration = "10.0.0.5:6379"</c>.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <example>
    /// <code>
    /// services.AddScalingRateLimit(o =&gt;
    /// {
    ///     o.RedisConfiguration = configuration.GetConnectionString("Redis")!;
    ///     o.Burst = new RateLimitTier("burst", 20, TimeSpan.FromSeconds(1));
    ///     o.Plans["business"] = new RateLimitPlan(RateLimitTiers.Premium) { TenantQuota = new("tenant-daily", 200_000, TimeSpan.FromDays(1)) };
    ///     o.TrustedProxies.Add("10.0.0.0/8");
    /// });
    /// </code>
    /// </example>
    public static IServiceCollection AddScalingRateLimit(this IServiceCollection services, Action<ScalingRateLimitOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<ScalingRateLimitOptions>().Configure(options =>
        {
            try
            {
                configure(options);
            }
            catch (ArgumentException ex)
            {
                // A tier with a bad limit or window cannot even be built; report it as the options' failure.
                throw new OptionsValidationException(Microsoft.Extensions.Options.Options.DefaultName, typeof(ScalingRateLimitOptions), ["ScalingRateLimitOptions: " + ex.Message]);
            }
        }).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ScalingRateLimitOptions>, ScalingRateLimitOptionsValidator>());
        services.TryAddSingleton(sp =>
        {
            var resolver = sp.GetRequiredService<HttpRateLimitResolver>();
            return new RedisRateLimiter(() => resolver.Options, sp.GetService<ILogger<RedisRateLimiter>>(), sp.GetService<IMeterFactory>());
        });
        services.TryAddSingleton(sp => new HttpRateLimitResolver(
            sp.GetRequiredService<IOptionsMonitor<ScalingRateLimitOptions>>(),
            (ILogger?)sp.GetService<ILogger<RedisRateLimiter>>() ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, RedisConnectionStarter>());
        services.TryAddSingleton(sp => new RedisPartitionedRateLimiter(sp.GetRequiredService<RedisRateLimiter>(), sp.GetRequiredService<HttpRateLimitResolver>()));
        return services;
    }

    /// <summary>
    /// Makes <see cref="RedisPartitionedRateLimiter"/> ASP.NET Core's global rate limiter (<c>AddRateLimiter</c>), with a
    /// 429 response that carries <c>Retry-After</c> and an <c>application/problem+json</c> body. Call after
    /// <see cref="AddScalingRateLimit"/>; in the pipeline, put <c>app.UseScalingRateLimitHeaders()</c> before
    /// <c>app.UseRateLimiter()</c>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddScalingGlobalRateLimiter(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<RedisPartitionedRateLimiter>((options, limiter) =>
        {
            options.GlobalLimiter = limiter;
            options.RejectionStatusCode = 429;
            options.OnRejected = (context, cancellationToken) =>
                new ValueTask(RateLimitPipeline.WriteRejectionAsync(context.HttpContext, (context.Lease as DecisionLease)?.Decision, cancellationToken));
        });
        return services;
    }
}
