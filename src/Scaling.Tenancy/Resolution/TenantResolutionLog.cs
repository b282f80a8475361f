using Microsoft.Extensions.Logging;

namespace Scaling.Tenancy.Resolution;

/// <summary>
/// The tenant resolution middleware's log messages (source-generated). Request input is only ever logged after it was
/// validated as a <see cref="TenantId"/>, or quoted with <see cref="DisplayText"/> (bounded length, control characters escaped).
/// </summary>
internal static partial class TenantResolutionLog
{
    [LoggerMessage(101, LogLevel.Debug, "Resolved tenant {TenantId} from {Source}")]
    internal static partial void Resolved(ILogger logger, string tenantId, string source);

    [LoggerMessage(102, LogLevel.Debug, "Refused a request with 400: the tenant id read from {Source} is malformed: {Reason}")]
    internal static partial void Malformed(ILogger logger, string source, string reason);

    [LoggerMessage(103, LogLevel.Debug, "Refused a request with 404: tenant {TenantId} (read from {Source}) does not exist")]
    internal static partial void NotFound(ILogger logger, string tenantId, string source);

    [LoggerMessage(104, LogLevel.Debug, "Refused a request with 400: endpoint {Endpoint} requires a tenant and the request identified none (tried {Sources})")]
    internal static partial void Required(ILogger logger, string endpoint, string sources);

    [LoggerMessage(105, LogLevel.Warning, "Refused a cross-tenant request with 403: tenant {TenantId} was read from {Source}, but the user's {ClaimSource} names another tenant")]
    internal static partial void ClaimMismatch(ILogger logger, string tenantId, string source, string claimSource);

    [LoggerMessage(106, LogLevel.Information, "Refused a request with 400: tenant {TenantId} was read from {Source}, but {OtherSource} names {Other}")]
    internal static partial void Conflict(ILogger logger, string tenantId, string source, string otherSource, string other);

    [LoggerMessage(107, LogLevel.Debug, "Answered 404: tenant {TenantId} does not exist (raised while handling the request)")]
    internal static partial void NotFoundDownstream(ILogger logger, string tenantId);

    [LoggerMessage(108, LogLevel.Information, "Answered 503 with Retry-After {RetryAfterSeconds} s: tenant {TenantId} is unavailable ({Reason})")]
    internal static partial void Unavailable(ILogger logger, Exception exception, string tenantId, TenantUnavailableReason reason, long retryAfterSeconds);

    [LoggerMessage(109, LogLevel.Warning, "{ExceptionType} for tenant {TenantId} was raised after the response had started; it cannot be answered with a problem response and is rethrown")]
    internal static partial void ResponseStarted(ILogger logger, string exceptionType, string tenantId);
}
