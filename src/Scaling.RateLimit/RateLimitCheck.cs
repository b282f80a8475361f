namespace Scaling.RateLimit;

/// <summary>
/// The policies that apply to one request, checked and consumed together by
/// <see cref="RedisRateLimiter.CheckAsync"/> in one atomic Lua call: either every policy admits the request and
/// all of them count it, or none counts it.
/// </summary>
/// <remarks>
/// All keys of one check share one Redis Cluster hash tag, the <see cref="Partition"/>, so that the script may
/// touch them all. Values are made key-safe on the way in (long or unusual values are hashed), so untrusted
/// input can be passed as it is.
/// </remarks>
public sealed class RateLimitCheck
{
    private readonly List<RateLimitRule> _rules = [];

    /// <summary>Initializes a new instance of the <see cref="RateLimitCheck"/> class.</summary>
    /// <param name="partition">
    /// The hash tag that all keys of the check share: the tenant when a policy counts per tenant, otherwise the
    /// client, e.g. <c>t:acme</c> or <c>u:42</c>. Not empty.
    /// </param>
    /// <param name="tier">The name of the client's tier, for metrics (e.g. <c>anonymous</c>). Not empty.</param>
    /// <exception cref="ArgumentException"><paramref name="partition"/> or <paramref name="tier"/> is null or empty.</exception>
    public RateLimitCheck(string partition, string tier)
    {
        ArgumentException.ThrowIfNullOrEmpty(partition);
        ArgumentException.ThrowIfNullOrEmpty(tier);
        Partition = KeyPart.Safe(partition);
        Tier = tier;
    }

    /// <summary>Gets the key-safe hash tag shared by all keys of the check.</summary>
    public string Partition { get; }

    /// <summary>Gets the name of the client's tier (a metric tag).</summary>
    public string Tier { get; }

    /// <summary>Gets the policies in the order they were added (the order of the response headers).</summary>
    public IReadOnlyList<RateLimitRule> Rules => _rules;

    /// <summary>Adds a policy that counts <paramref name="subject"/>.</summary>
    /// <param name="policy">The policy.</param>
    /// <param name="subject">Whom it counts (e.g. <c>u:42</c>, <c>ip:203.0.113.7</c>); <see langword="null"/> for the partition itself.</param>
    /// <returns>This check, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="policy"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A policy with the same name and subject is already in the check.</exception>
    public RateLimitCheck Add(RateLimitTier policy, string? subject = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var safe = string.IsNullOrEmpty(subject) ? Partition : KeyPart.Safe(subject);
        foreach (var rule in _rules)
        {
            if (rule.Subject == safe && rule.Policy.Name == policy.Name)
            {
                throw new ArgumentException($"The check already holds policy {DisplayText.Quote(policy.Name)} for this subject.", nameof(policy));
            }
        }

        _rules.Add(new RateLimitRule(policy, safe));
        return this;
    }
}
