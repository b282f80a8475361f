using System.Diagnostics.CodeAnalysis;
using Scaling.Data;

namespace Scaling.Tenancy.Sharding;

/// <summary>
/// A read-your-writes token for a tenant: the <see cref="ConsistencyToken"/> of a committed write and the shard it was
/// written on. Text form <c>{lsn}@{shard}</c>, e.g. <c>16b3748@shard-1</c>, safe in a header or cookie. A token of
/// another shard than the tenant's current one (the tenant moved since) sends the read to the current shard's primary.
/// </summary>
/// <param name="ShardId">The shard the write committed on.</param>
/// <param name="Token">The write's consistency token on that shard.</param>
public readonly record struct ShardConsistencyToken(string ShardId, ConsistencyToken Token)
{
    /// <summary>The longest text form: an LSN in hex, '@', a shard id.</summary>
    public const int MaxLength = ConsistencyToken.MaxLength + 1 + TenantId.MaxLength;

    /// <summary>Parses the text form.</summary>
    /// <param name="text">The text, e.g. <c>16b3748@shard-1</c>.</param>
    /// <param name="token">The token when the text is valid.</param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is a valid token; never throws.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, out ShardConsistencyToken token)
    {
        token = default;
        if (text is null || text.Length > MaxLength)
        {
            return false;
        }

        var at = text.IndexOf('@', StringComparison.Ordinal);
        if (at <= 0 || !ConsistencyToken.TryParse(text[..at], out var lsn) || !ShardIds.IsValid(text[(at + 1)..]))
        {
            return false;
        }

        token = new ShardConsistencyToken(text[(at + 1)..], lsn);
        return true;
    }

    /// <summary>Returns the text form <c>{lsn}@{shard}</c>.</summary>
    /// <returns>The text form.</returns>
    public override string ToString() => $"{Token}@{ShardId}";
}
