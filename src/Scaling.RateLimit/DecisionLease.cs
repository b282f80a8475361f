using System.Threading.RateLimiting;

namespace Scaling.RateLimit;

/// <summary>A lease over a <see cref="RateLimitDecision"/>: acquired when admitted; <see cref="MetadataName.RetryAfter"/> when rejected.</summary>
internal sealed class DecisionLease(RateLimitDecision? decision, bool isAcquired) : RateLimitLease
{
    private static readonly string[] RejectedNames = [MetadataName.RetryAfter.Name, MetadataName.ReasonPhrase.Name];

    internal static DecisionLease NotChecked { get; } = new(null, false);

    internal RateLimitDecision? Decision { get; } = decision;

    public override bool IsAcquired { get; } = isAcquired;

    public override IEnumerable<string> MetadataNames => Decision is { IsAllowed: false } ? RejectedNames : [];

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        if (Decision is { IsAllowed: false } decision)
        {
            if (metadataName == MetadataName.RetryAfter.Name)
            {
                metadata = decision.RetryAfter;
                return true;
            }

            if (metadataName == MetadataName.ReasonPhrase.Name)
            {
                metadata = $"Rate limit policy {DisplayText.Quote(decision.RejectedBy ?? string.Empty)} exceeded.";
                return true;
            }
        }

        metadata = null;
        return false;
    }
}
