using System.Globalization;

namespace Scaling.Locks;

/// <summary>Validation of resource names.</summary>
internal static class LockResourceName
{
    internal static void Validate(string resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        if (resource.Length == 0)
        {
            throw new ArgumentException("A lock's resource name cannot be empty.", nameof(resource));
        }

        if (resource.Length > ScalingLocksOptions.MaxResourceLength)
        {
            throw new ArgumentException(
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"A lock's resource name can be at most {ScalingLocksOptions.MaxResourceLength} characters; {DisplayText.Quote(resource)} is too long."),
                nameof(resource));
        }
    }
}
