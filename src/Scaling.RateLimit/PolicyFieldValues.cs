using System.Collections.Concurrent;

namespace Scaling.RateLimit;

/// <summary>
/// The <c>RateLimit-Policy</c> field value of each list of policies met so far, made once: it depends on the policies
/// alone, and an application's configured tiers make few lists. Up to <see cref="Capacity"/> lists are kept; past that,
/// a value is formatted for each response, as before.
/// </summary>
internal static class PolicyFieldValues
{
    internal const int Capacity = 1024;

    private static readonly ConcurrentDictionary<PolicyList, string> Values = new();

    /// <summary>The field value for the policies of <paramref name="rules"/>, in their order.</summary>
    internal static string For(IReadOnlyList<RateLimitRule> rules)
    {
        if (Values.TryGetValue(new PolicyList(rules, null), out var value))
        {
            return value;
        }

        var policies = new RateLimitTier[rules.Count];
        for (var i = 0; i < policies.Length; i++)
        {
            policies[i] = rules[i].Policy;
        }

        value = RateLimitHeaderFormatter.FormatPolicy(policies);
        if (Values.Count < Capacity)
        {
            Values.TryAdd(new PolicyList(null, policies), value);
        }

        return value;
    }

    /// <summary>A list of policies (equal by value, in order): a request's rules to look up, or a kept copy of them.</summary>
    private readonly struct PolicyList(IReadOnlyList<RateLimitRule>? rules, RateLimitTier[]? policies) : IEquatable<PolicyList>
    {
        private int Count => rules?.Count ?? policies!.Length;

        public bool Equals(PolicyList other)
        {
            if (Count != other.Count)
            {
                return false;
            }

            for (var i = 0; i < Count; i++)
            {
                if (!this[i].Equals(other[i]))
                {
                    return false;
                }
            }

            return true;
        }

        public override bool Equals(object? obj) => obj is PolicyList other && Equals(other);

        public override int GetHashCode()
        {
            var hash = default(HashCode);
            for (var i = 0; i < Count; i++)
            {
                hash.Add(this[i]);
            }

            return hash.ToHashCode();
        }

        private RateLimitTier this[int index] => rules is not null ? rules[index].Policy : policies![index];
    }
}
