using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Scaling.RateLimit;

/// <summary>
/// Turns a request into its <see cref="RateLimitCheck"/>: who the client is (user id, valid API key, or client
/// address; anything missing or malformed means the anonymous tier, never an unlimited one), its tier or
/// plan, and the policies that apply (burst, endpoint, tier, tenant quota). Reads the current options on every
/// request, so policy changes take effect without a restart; a change that fails validation is logged and ignored.
/// </summary>
internal sealed class HttpRateLimitResolver
{
    /// <summary>The longest API key looked at; longer values are treated as no key.</summary>
    internal const int MaxApiKeyLength = 512;

    private readonly IOptionsMonitor<ScalingRateLimitOptions> _monitor;
    private readonly ILogger _logger;
    private Snapshot _current;
    private string? _lastRejection;

    internal HttpRateLimitResolver(IOptionsMonitor<ScalingRateLimitOptions> monitor, ILogger logger)
    {
        _monitor = monitor;
        _logger = logger;
        _current = new Snapshot(monitor.CurrentValue);
    }

    /// <summary>The options in force (the last valid ones).</summary>
    internal ScalingRateLimitOptions Options => Current().Options;

    internal RateLimitCheck Resolve(HttpContext context)
    {
        var snapshot = Current();
        var options = snapshot.Options;
        string subject;
        RateLimitTier tier;
        string? tenant = null;
        RateLimitPlan? plan = null;
        if (RequestUser.Of(context) is { Identity.IsAuthenticated: true } user && UserId(user, options) is { } userId)
        {
            subject = "u:" + userId;
            if (options.TenantResolver?.Invoke(context) is { Plan: { Length: > 0 } planName } resolved
                && options.Plans.TryGetValue(planName, out var found))
            {
                plan = found;
                if (plan.TenantQuota is not null && !string.IsNullOrEmpty(resolved.Id))
                {
                    tenant = "t:" + resolved.Id;
                }
            }

            tier = plan?.Tier ?? options.AuthenticatedTier;
        }
        else if (ApiKey(context, options) is { } apiKey)
        {
            subject = "k:" + KeyPart.Hash(apiKey);
            tier = options.AuthenticatedTier;
        }
        else
        {
            subject = snapshot.Addresses.Resolve(context, _logger);
            tier = options.AnonymousTier;
        }

        var check = new RateLimitCheck(tenant ?? subject, tier.Name);
        if (options.Burst is { } burst)
        {
            check.Add(burst, subject);
        }

        if (snapshot.EndpointPolicy(context.Request.Path) is { } endpoint)
        {
            check.Add(endpoint, subject);
        }

        check.Add(tier, subject);
        if (tenant is not null)
        {
            check.Add(plan!.TenantQuota!, tenant);
        }

        return check;
    }

    private static string? UserId(ClaimsPrincipal user, ScalingRateLimitOptions options)
    {
        foreach (var type in options.UserIdClaimTypes)
        {
            if (user.FindFirst(type)?.Value is { Length: > 0 } id)
            {
                return id;
            }
        }

        return null;
    }

    private static string? ApiKey(HttpContext context, ScalingRateLimitOptions options)
    {
        if (options.ApiKeyHeaderName is not { } header || options.ApiKeyValidator is not { } validator)
        {
            return null;
        }

        var values = context.Request.Headers[header];
        return values.Count == 1 && values[0] is { Length: > 0 and <= MaxApiKeyLength } key && validator(key) ? key : null;
    }

    private Snapshot Current()
    {
        ScalingRateLimitOptions options;
        try
        {
            options = _monitor.CurrentValue;
        }
        catch (OptionsValidationException ex)
        {
            if (!string.Equals(Volatile.Read(ref _lastRejection), ex.Message, StringComparison.Ordinal))
            {
                Volatile.Write(ref _lastRejection, ex.Message);
                RateLimitLog.OptionsRejected(_logger, ex.Message);
            }

            return Volatile.Read(ref _current);
        }

        var current = Volatile.Read(ref _current);
        if (ReferenceEquals(current.Options, options))
        {
            return current;
        }

        var fresh = new Snapshot(options);
        Volatile.Write(ref _current, fresh);
        return fresh;
    }

    /// <summary>Options with what is derived from them (parsed proxies, endpoint prefixes longest first).</summary>
    private sealed class Snapshot
    {
        private readonly (PathString Prefix, RateLimitTier Policy)[] _endpoints;

        internal Snapshot(ScalingRateLimitOptions options)
        {
            Options = options;
            Addresses = new ClientAddressResolver(options);
            _endpoints = [.. options.EndpointPolicies.Select(p => (new PathString(p.Key.TrimEnd('/')), p.Value)).OrderByDescending(p => p.Item1.Value!.Length)];
        }

        internal ScalingRateLimitOptions Options { get; }

        internal ClientAddressResolver Addresses { get; }

        internal RateLimitTier? EndpointPolicy(PathString path)
        {
            foreach (var (prefix, policy) in _endpoints)
            {
                if (path.StartsWithSegments(prefix, StringComparison.OrdinalIgnoreCase))
                {
                    return policy;
                }
            }

            return null;
        }
    }
}
