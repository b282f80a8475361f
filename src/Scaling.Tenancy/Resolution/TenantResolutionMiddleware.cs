using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Scaling.Tenancy.Resolution;

/// <summary>
/// The middleware of <c>UseScalingTenantResolution</c>: reads the tenant identifier with the strategy chain, validates it,
/// looks the tenant up, and runs the rest of the pipeline in that tenant's scope; answers malformed (400), cross-tenant
/// (403), unknown (404) and unavailable (503) tenants with <c>application/problem+json</c>.
/// </summary>
internal sealed class TenantResolutionMiddleware
{
    private readonly RequestDelegate _next;
    private readonly ITenantContextAccessor _accessor;
    private readonly ILogger _logger;
    private readonly ITenantResolutionStrategy[] _strategies;
    private readonly ClaimTenantResolutionStrategy[] _claimStrategies;
    private readonly TenantConflictPolicy _conflictPolicy;
    private readonly string[] _sourceNames;

    public TenantResolutionMiddleware(
        RequestDelegate next,
        IOptions<TenantResolutionOptions> options,
        ITenantContextAccessor accessor,
        ILogger<TenantResolutionMiddleware> logger)
    {
        _next = next;
        _accessor = accessor;
        _logger = logger;
        var value = options.Value;
        _strategies = [.. value.Strategies];
        _claimStrategies = [.. _strategies.OfType<ClaimTenantResolutionStrategy>()];
        _conflictPolicy = value.ConflictPolicy;
        _sourceNames = [.. _strategies.Select(s => s.Name)];
    }

    // One async method for the whole request (resolution, the rest of the pipeline, and the answers to a tenant that
    // turned out missing or unavailable downstream): one state machine per request, not two.
    public async Task InvokeAsync(HttpContext context)
    {
        var cancellationToken = context.RequestAborted;
        try
        {
            ITenantResolutionStrategy? source = null;
            string? candidate = null;
            var index = 0;
            for (; index < _strategies.Length; index++)
            {
                candidate = await _strategies[index].GetIdentifierAsync(context, cancellationToken).ConfigureAwait(false);
                if (candidate is not null)
                {
                    source = _strategies[index];
                    break;
                }
            }

            if (source is null || candidate is null)
            {
                if (context.GetEndpoint()?.Metadata.GetMetadata<RequireTenantAttribute>() is not null)
                {
                    await WriteRequiredAsync(context, cancellationToken).ConfigureAwait(false);
                    return;
                }

                await _next(context).ConfigureAwait(false);
                return;
            }

            if (!TenantId.TryParse(candidate, out var tenantId))
            {
                await WriteMalformedAsync(context, source, candidate, cancellationToken).ConfigureAwait(false);
                return;
            }

            if (_conflictPolicy != TenantConflictPolicy.FirstWins
                && !await CheckConflictsAsync(context, tenantId, source, index, cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            var lookup = context.RequestServices.GetRequiredService<ITenantLookup>();
            var tenant = await lookup.FindAsync(tenantId, cancellationToken).ConfigureAwait(false);
            if (tenant is null)
            {
                TenantResolutionLog.NotFound(_logger, tenantId.Value, source.Name);
                await TenantProblem.WriteAsync(
                    context,
                    StatusCodes.Status404NotFound,
                    TenantProblem.NotFoundCode,
                    $"The tenant '{tenantId}' (read from {source.Name}) does not exist.",
                    tenantId,
                    source.Name,
                    cancellationToken).ConfigureAwait(false);
                return;
            }

            TenantResolutionLog.Resolved(_logger, tenant.Id.Value, source.Name);
            context.Features.Set<ITenantFeature>(new TenantFeature(tenant, source.Name));
            using (_accessor.BeginScope(tenant))
            {
                await _next(context).ConfigureAwait(false);
            }
        }
        catch (TenantNotFoundException ex) when (CanAnswer(context, ex))
        {
            TenantResolutionLog.NotFoundDownstream(_logger, ex.TenantId.Value);
            context.Response.Clear();
            await TenantProblem.WriteAsync(
                context,
                StatusCodes.Status404NotFound,
                TenantProblem.NotFoundCode,
                $"The tenant '{ex.TenantId}' does not exist.",
                ex.TenantId,
                source: null,
                cancellationToken).ConfigureAwait(false);
        }
        catch (TenantUnavailableException ex) when (CanAnswer(context, ex))
        {
            var seconds = TenantProblem.RetryAfterSeconds(ex.RetryAfter);
            TenantResolutionLog.Unavailable(_logger, ex, ex.TenantId.Value, ex.Reason, seconds);
            context.Response.Clear();
            context.Response.Headers.RetryAfter = TenantProblem.Seconds(seconds);
            await TenantProblem.WriteAsync(
                context,
                StatusCodes.Status503ServiceUnavailable,
                TenantProblem.UnavailableCode,
                $"The tenant '{ex.TenantId}' is temporarily unavailable ({Describe(ex.Reason)}); retry after {TenantProblem.Seconds(seconds)} s.",
                ex.TenantId,
                source: null,
                cancellationToken,
                extensions =>
                {
                    extensions["reason"] = ex.Reason.ToString();
                    extensions["retryAfter"] = seconds;
                }).ConfigureAwait(false);
        }
    }

    /// <summary>Applies the conflict policy; false when the request was refused (the response is written).</summary>
    private async ValueTask<bool> CheckConflictsAsync(HttpContext context, TenantId tenantId, ITenantResolutionStrategy source, int sourceIndex, CancellationToken cancellationToken)
    {
        // The user's tenant claims first: a mismatch there is a cross-tenant attempt (403), whatever the policy.
        foreach (var claim in _claimStrategies)
        {
            if (ReferenceEquals(claim, source))
            {
                continue;
            }

            var (hasClaim, matches) = claim.Check(context, tenantId);
            if (hasClaim && !matches)
            {
                TenantResolutionLog.ClaimMismatch(_logger, tenantId.Value, source.Name, claim.Name);
                await TenantProblem.WriteAsync(
                    context,
                    StatusCodes.Status403Forbidden,
                    TenantProblem.ForbiddenCode,
                    $"The tenant '{tenantId}' was read from {source.Name}, but the authenticated user's {claim.Name} names another tenant; a user can only act for the tenants their credentials name.",
                    tenantId,
                    source.Name,
                    cancellationToken).ConfigureAwait(false);
                return false;
            }
        }

        if (_conflictPolicy != TenantConflictPolicy.RejectAnyMismatch)
        {
            return true;
        }

        for (var i = sourceIndex + 1; i < _strategies.Length; i++)
        {
            var other = _strategies[i];
            if (other is ClaimTenantResolutionStrategy)
            {
                continue; // checked above, by membership
            }

            var candidate = await other.GetIdentifierAsync(context, cancellationToken).ConfigureAwait(false);
            if (candidate is not null && !string.Equals(candidate, tenantId.Value, StringComparison.Ordinal))
            {
                var quoted = DisplayText.Quote(candidate);
                TenantResolutionLog.Conflict(_logger, tenantId.Value, source.Name, other.Name, quoted);
                await TenantProblem.WriteAsync(
                    context,
                    StatusCodes.Status400BadRequest,
                    TenantProblem.ConflictCode,
                    $"The request names two tenants: '{tenantId}' from {source.Name} and {quoted} from {other.Name}.",
                    tenantId,
                    source.Name,
                    cancellationToken,
                    extensions => extensions["conflictingSource"] = other.Name).ConfigureAwait(false);
                return false;
            }
        }

        return true;
    }

    private Task WriteMalformedAsync(HttpContext context, ITenantResolutionStrategy source, string candidate, CancellationToken cancellationToken)
    {
        string reason;
        try
        {
            _ = TenantId.Parse(candidate);
            reason = $"{DisplayText.Quote(candidate)} is not a valid tenant id.";
        }
        catch (FormatException ex)
        {
            // TenantId's messages quote the input with DisplayText: bounded and with control characters escaped.
            reason = ex.Message;
        }

        TenantResolutionLog.Malformed(_logger, source.Name, reason);
        return TenantProblem.WriteAsync(
            context,
            StatusCodes.Status400BadRequest,
            TenantProblem.MalformedCode,
            $"The tenant id read from {source.Name} is malformed. {reason}",
            default,
            source.Name,
            cancellationToken);
    }

    private Task WriteRequiredAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var sources = string.Join(", ", _sourceNames);
        TenantResolutionLog.Required(_logger, context.GetEndpoint()?.DisplayName ?? "(unnamed)", sources);
        return TenantProblem.WriteAsync(
            context,
            StatusCodes.Status400BadRequest,
            TenantProblem.RequiredCode,
            $"This endpoint requires a tenant, and the request identifies none (tried {sources}).",
            default,
            source: null,
            cancellationToken,
            extensions => extensions["sources"] = _sourceNames);
    }

    private bool CanAnswer(HttpContext context, TenantException exception)
    {
        if (!context.Response.HasStarted)
        {
            return true;
        }

        TenantResolutionLog.ResponseStarted(_logger, exception.GetType().Name, exception.TenantId.Value);
        return false;
    }

    private static string Describe(TenantUnavailableReason reason) => reason switch
    {
        TenantUnavailableReason.ReadOnly => "it is read-only for the moment",
        TenantUnavailableReason.ShardUnavailable => "its database cannot be reached",
        TenantUnavailableReason.RouteChanged => "it is being moved",
        _ => "unavailable",
    };
}
