namespace Scaling.Tenancy.Sharding;

/// <summary>Shard ids follow the same rules as tenant ids (a DNS label: safe in SQL literals, keys, tokens and logs).</summary>
internal static class ShardIds
{
    internal static bool IsValid(string? id) => TenantId.TryParse(id, out _);

    internal static void ThrowIfInvalid(string? id, string paramName)
    {
        ArgumentNullException.ThrowIfNull(id, paramName);
        if (!IsValid(id))
        {
            throw new ArgumentException(
                $"The shard id {DisplayText.Quote(id)} is not valid: a shard id is 1 to {TenantId.MaxLength} characters of lowercase letters (a-z), digits (0-9) and '-', starting and ending with a letter or a digit.",
                paramName);
        }
    }
}
