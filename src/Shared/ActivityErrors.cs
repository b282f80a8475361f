using System.Diagnostics;

namespace Scaling;

/// <summary>
/// Marks a package's span as failed the OpenTelemetry way: status <see cref="ActivityStatusCode.Error"/> with a
/// description, and the <c>error.type</c> tag (the exception's full type name, or a short low-cardinality code).
/// Every method accepts a <see langword="null"/> activity (no listener) and then does nothing.
/// </summary>
internal static class ActivityErrors
{
    /// <summary>The OpenTelemetry attribute that names the class of an error.</summary>
    internal const string ErrorType = "error.type";

    /// <summary>
    /// Records <paramref name="exception"/> on <paramref name="activity"/>. Returns <see langword="false"/>, so that it can
    /// be used as an exception filter (<c>catch (Exception e) when (ActivityErrors.Record(activity, e))</c>) that never
    /// catches: the exception goes on with its stack intact.
    /// </summary>
    internal static bool Record(Activity? activity, Exception exception)
    {
        if (activity is not null)
        {
            activity.SetTag(ErrorType, exception.GetType().FullName);
            activity.SetStatus(ActivityStatusCode.Error, exception.Message);
        }

        return false;
    }

    /// <summary>Marks <paramref name="activity"/> as failed with an error code of the package's own (e.g. <c>conflicted</c>).</summary>
    internal static void Set(Activity? activity, string errorType, string description)
    {
        if (activity is not null)
        {
            activity.SetTag(ErrorType, errorType);
            activity.SetStatus(ActivityStatusCode.Error, description);
        }
    }
}
