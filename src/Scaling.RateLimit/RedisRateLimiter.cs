using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Scaling.RateLimit;

/// <summary>
/// Checks and consumes rate-limit policies in Redis: every policy of a <see cref="RateLimitCheck"/> in one
/// atomic Lua call (<c>EVALSHA</c>, re-sent on <c>NOSCRIPT</c>) on Redis's own clock. While Redis is unavailable a
/// circuit breaker keeps calls away from it and each policy applies its <see cref="RateLimitTier.WhenRedisUnavailable"/>
/// mode; normal service resumes by itself when a probe call succeeds.
/// </summary>
/// <remarks>
/// Thread-safe; create one per application and dispose it at shutdown (it closes the multiplexer it made, never the
/// application's own). A check that reaches Redis after its <see cref="ScalingRateLimitOptions.RedisTimeout"/> counts nothing
/// there: its caller has already been answered with the failure mode.
/// </remarks>
public sealed class RedisRateLimiter : IAsyncDisposable
{
    private readonly Func<ScalingRateLimitOptions> _options;
    private readonly RedisConnection _connection;
    private readonly string _keyPrefix;
    private readonly ILogger _logger;
    private readonly RedisCircuitBreaker _breaker = new();
    private readonly SlotBreakers _slotBreakers = new();
    private readonly LocalSlidingWindows _local = new();
    private readonly PermitReservations _reservations = new();
    private readonly RateLimitInstruments _metrics;
    private int _disposed;

    /// <summary>Initializes a new instance of the <see cref="RedisRateLimiter"/> class and starts connecting to Redis in the background.</summary>
    /// <param name="options">The options (validated here; later changes to the instance are not seen). Outside DI, wrap them with <c>Options.Create</c>.</param>
    /// <param name="logger">The logger, or <see langword="null"/> for none.</param>
    /// <param name="meterFactory">The meter factory, or <see langword="null"/> to create meter <c>Scaling.RateLimit</c> directly.</param>
    /// <exception cref="OptionsValidationException"><paramref name="options"/> are invalid; each failure names the bad option.</exception>
    public RedisRateLimiter(IOptions<ScalingRateLimitOptions> options, ILogger<RedisRateLimiter>? logger = null, IMeterFactory? meterFactory = null)
        : this(Validated(options), logger, meterFactory)
    {
    }

    internal RedisRateLimiter(Func<ScalingRateLimitOptions> options, ILogger? logger, IMeterFactory? meterFactory)
    {
        _options = options;
        var initial = options();
        _keyPrefix = initial.KeyPrefix;
        _logger = logger ?? NullLogger.Instance;
        _metrics = new RateLimitInstruments(meterFactory, () => IsDegraded, () => _breaker.DegradedTime + _slotBreakers.DegradedTime);
        ConfigurationOptions? configuration = null;
        if (initial.ConnectionMultiplexerFactory is null)
        {
            configuration = ConfigurationOptions.Parse(initial.RedisConfiguration);
            configuration.ConnectRetry = 1;
        }

        var connectTimeout = TimeSpan.FromMilliseconds(Math.Max(configuration?.ConnectTimeout ?? 5000, 1));
        _connection = new RedisConnection(
            configuration,
            initial.ConnectionMultiplexerFactory,
            clientName: "scaling-ratelimit",
            onConnected: connection => PreloadScriptAsync(connection, connectTimeout),
            onConnectFailed: ex => RateLimitLog.CheckFailed(_logger, "connecting: " + ex.Message));
        _connection.Start();
    }

    /// <summary>
    /// Waits until the Redis connection is up (at most the connect timeout of the configuration string), so that the
    /// first checks are not degraded. Returns false when it is not up yet; it keeps connecting in the background.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>Whether the connection is up.</returns>
    public async Task<bool> ConnectAsync(CancellationToken cancellationToken = default)
    {
        var timeout = _connection.ConnectTimeout;
        var started = Stopwatch.GetTimestamp();
        try
        {
            var connection = await _connection.Multiplexer().WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            while (!connection.IsConnected && Stopwatch.GetElapsedTime(started) < timeout)
            {
                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }

            return connection.IsConnected;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or InvalidOperationException)
        {
            RateLimitLog.CheckFailed(_logger, "connecting: " + ex.Message);
            return false;
        }
    }

    /// <summary>
    /// Gets a value indicating whether Redis is currently treated as unavailable (policies apply their failure modes). On a
    /// Redis Cluster, where each hash slot has its own circuit breaker, true while some slot's is open: checks of
    /// partitions on the healthy masters still decide on Redis.
    /// </summary>
    public bool IsDegraded => _breaker.IsDegraded || _slotBreakers.IsDegraded;

    /// <summary>
    /// Checks every policy of <paramref name="check"/> and, only if all of them allow it, counts
    /// <paramref name="permits"/> in all of them: one Redis round trip, or none when a check of one permit is admitted
    /// from permits this instance reserved earlier (see <see cref="ScalingRateLimitOptions.MaxReservedPermits"/>).
    /// </summary>
    /// <param name="check">The policies that apply (at least one).</param>
    /// <param name="permits">How many requests to count; from 0 (look, count nothing) to the smallest limit of the check.</param>
    /// <param name="cancellationToken">Cancels the wait for Redis.</param>
    /// <returns>The decision, with each policy's remaining quota and reset time.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="check"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="check"/> holds no policy.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="permits"/> is negative or more than a policy's limit (it could never be admitted).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // reuses a state machine when the builder's per-thread cache has one
    public async ValueTask<RateLimitDecision> CheckAsync(RateLimitCheck check, int permits = 1, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(check);
        var rules = check.Rules;
        if (rules.Count == 0)
        {
            throw new ArgumentException("The check holds no policy.", nameof(check));
        }

        for (var i = 0; i < rules.Count; i++) // not foreach: an interface's enumerator is an allocation per check
        {
            var rule = rules[i];
            if (permits < 0 || permits > rule.Policy.PermitLimit)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(permits),
                    permits,
                    string.Create(CultureInfo.InvariantCulture, $"Permits must be from 0 to the limit of every policy of the check; policy {DisplayText.Quote(rule.Policy.Name)} allows {rule.Policy.PermitLimit}."));
            }
        }

        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        var options = _options();
        var started = Stopwatch.GetTimestamp();
        using var activity = RateLimitActivities.StartCheck(check, permits);
        var keys = Keys(check);
        var keySet = options.MaxReservedPermits > 0 && permits == 1 && !HasLog(rules) ? KeySet(keys) : null;
        if (keySet is not null && _reservations.TryTake(keySet, check) is { } reserved)
        {
            Record(check, reserved, started, "reserved", activity);
            return reserved;
        }

        // On a cluster, a breaker per hash slot: the slot of the check's keys, whose hash tag is the partition.
        var connected = _connection.Multiplexer();
        var cluster = _connection.IsCluster && connected.IsCompletedSuccessfully;
        var breaker = cluster ? _slotBreakers.For(connected.Result.HashSlot("{" + check.Partition + "}")) : _breaker;
        if (breaker.TryEnter(options.BreakDuration))
        {
            // At most one call per key set asks Redis to reserve permits for this instance; it installs what it got.
            var extra = keySet is null ? 0 : _reservations.Want(keySet, options.MaxReservedPermits);
            PermitReservations.Reservation? reservation = null;
            try
            {
                RedisResult result;
                var sent = Stopwatch.GetTimestamp();
                try
                {
                    result = await EvaluateAsync(check, keys, permits, extra, options.RedisTimeout, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException e) when (cancellationToken.IsCancellationRequested)
                {
                    breaker.AbandonProbe();
                    ActivityErrors.Record(activity, e);
                    throw;
                }
                catch (Exception ex)
                {
                    var reason = ex.GetType().Name + ": " + ex.Message;
                    RateLimitLog.CheckFailed(_logger, reason);
                    RateLimitActivities.RedisFailed(activity, ex);
                    if (breaker.OnFailure(options.BreakerFailureThreshold))
                    {
                        if (cluster)
                        {
                            _slotBreakers.Opened();
                        }

                        RateLimitLog.Degraded(_logger, options.BreakerFailureThreshold, reason, options.BreakDuration.TotalSeconds);
                    }

                    return Degraded(check, keys, permits, options, started, activity);
                }

                if (breaker.OnSuccess() is { } degraded)
                {
                    if (cluster)
                    {
                        _slotBreakers.Closed();
                    }

                    RateLimitLog.Resumed(_logger, degraded.TotalSeconds);
                }

                // The permits left in the reservation being replaced stay this instance's: the decision counts them as available.
                var decision = FromScript(check, (RedisResult[])result!, extra > 0 ? _reservations.Left(keySet!) : 0, out var states, out var granted);
                if (extra > 0 && !decision.IsAllowed && _reservations.TryTake(keySet!, check) is { } kept)
                {
                    // Redis refused, but the reservation that ran low still holds permits of this instance: they go first.
                    Record(check, kept, started, "reserved", activity);
                    return kept;
                }

                if (extra > 0 && granted > 0)
                {
                    reservation = new PermitReservations.Reservation(granted, states, decision.ServerTimeMicroseconds, sent, Stopwatch.GetTimestamp(), rules);
                }

                Record(check, decision, started, "redis", activity);
                return decision;
            }
            finally
            {
                if (extra > 0)
                {
                    _reservations.Complete(keySet!, reservation);
                }
            }
        }

        return Degraded(check, keys, permits, options, started, activity);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _metrics.Dispose();
        await _connection.DisposeAsync(ex => RateLimitLog.CheckFailed(_logger, "closing the Redis connection: " + ex.Message)).ConfigureAwait(false);
    }

    /// <summary>The Redis key of one rule: <c>prefix{partition}:policy[:subject]</c>.</summary>
    internal string Key(RateLimitCheck check, RateLimitRule rule) =>
        rule.Subject == check.Partition
            ? string.Concat(_keyPrefix, "{", check.Partition, "}:", rule.Policy.Name)
            : string.Concat(_keyPrefix, "{", check.Partition, "}:", rule.Policy.Name, ":", rule.Subject);

    private static Func<ScalingRateLimitOptions> Validated(IOptions<ScalingRateLimitOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var value = options.Value;
        ScalingRateLimitOptionsValidator.ThrowIfInvalid(value);
        return () => value;
    }

    /// <summary>The set of a check's keys, one string: what a reservation is kept under.</summary>
    private static string KeySet(RedisKey[] keys)
    {
        if (keys.Length == 1)
        {
            return (string)keys[0]!;
        }

        var parts = new string[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            parts[i] = (string)keys[i]!;
        }

        return string.Join('\n', parts);
    }

    private RedisKey[] Keys(RateLimitCheck check)
    {
        var rules = check.Rules;
        var keys = new RedisKey[rules.Count];
        for (var i = 0; i < rules.Count; i++)
        {
            keys[i] = Key(check, rules[i]);
        }

        return keys;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<RedisResult> EvaluateAsync(RateLimitCheck check, RedisKey[] keys, int permits, int reserve, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var rules = check.Rules;
        var values = new RedisValue[4 + (rules.Count * 3)];
        values[0] = permits;
        values[1] = HasLog(rules) ? Guid.NewGuid().ToString("N") : RedisValue.EmptyString; // sliding-log member ids only
        for (var i = 0; i < rules.Count; i++)
        {
            var policy = rules[i].Policy;
            values[2 + (i * 3)] = policy.PermitLimit;
            values[3 + (i * 3)] = (long)policy.Window.TotalMilliseconds;
            values[4 + (i * 3)] = policy.Algorithm == RateLimitAlgorithm.SlidingLog ? 1 : 0;
        }

        values[^2] = reserve;

        // Taken before the wait for a connection: a check that reaches Redis after its caller gave up counts nothing.
        // The caller waits at most `timeout` in all: the connection, the call and a NOSCRIPT retry share that budget.
        values[^1] = _connection.Clock.Deadline(timeout);
        var started = Stopwatch.GetTimestamp();
        var database = await _connection.DatabaseAsync(timeout, cancellationToken).ConfigureAwait(false);
        try
        {
            return await database.ScriptEvaluateAsync(SlidingWindowScript.Sha1, keys, values).WaitAsync(Left(timeout, started), cancellationToken).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            // Redis restarted, failed over to a replica or had its script cache flushed: send the script itself (EVAL
            // caches it again).
            RateLimitLog.ScriptReloaded(_logger);
            return await database.ScriptEvaluateAsync(SlidingWindowScript.Source, keys, values).WaitAsync(Left(timeout, started), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>What is left of <paramref name="timeout"/> since <paramref name="started"/>; a spent budget times out at once.</summary>
    private static TimeSpan Left(TimeSpan timeout, long started)
    {
        var left = timeout - Stopwatch.GetElapsedTime(started);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    private static bool HasLog(IReadOnlyList<RateLimitRule> rules)
    {
        for (var i = 0; i < rules.Count; i++) // not foreach: an interface's enumerator is an allocation per check
        {
            if (rules[i].Policy.Algorithm == RateLimitAlgorithm.SlidingLog)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The script's decision; <paramref name="states"/>, each policy's remaining quota after the <paramref name="reserved"/>
    /// permits and its reset, for the reservation. The decision counts the reserved permits, and the
    /// <paramref name="kept"/> ones of an earlier reservation, as still available (to this instance).
    /// </summary>
    private static RateLimitDecision FromScript(RateLimitCheck check, RedisResult[] result, int kept, out (long Remaining, TimeSpan Reset)[] states, out int reserved)
    {
        var rules = check.Rules;
        var allowed = (long)result[0] == 1;
        reserved = result.Length > 4 + (rules.Count * 2) ? (int)(long)result[4 + (rules.Count * 2)] : 0;
        states = new (long, TimeSpan)[rules.Count];
        var policies = new RateLimitPolicyState[rules.Count];
        for (var i = 0; i < rules.Count; i++)
        {
            var policy = rules[i].Policy;
            var remaining = Math.Clamp((long)result[4 + (i * 2)], 0, policy.PermitLimit);
            var reset = Microseconds((long)result[5 + (i * 2)]);
            states[i] = (remaining, reset);
            policies[i] = new RateLimitPolicyState(policy, Math.Min(remaining + reserved + kept, policy.PermitLimit), reset);
        }

        var rejecting = (int)(long)result[3];
        var rejectedBy = allowed ? null : rules[Math.Clamp(rejecting - 1, 0, rules.Count - 1)].Policy.Name;

        return new RateLimitDecision(allowed, allowed ? TimeSpan.Zero : Microseconds((long)result[1]), policies, isDegraded: false, rejectedBy, (long)result[2]);
    }

    private static TimeSpan Microseconds(long value) => TimeSpan.FromTicks(Math.Max(0, value) * 10);

    private RateLimitDecision Degraded(RateLimitCheck check, RedisKey[] keys, int permits, ScalingRateLimitOptions options, long started, Activity? activity)
    {
        var rules = check.Rules;
        var states = new List<RateLimitPolicyState>(rules.Count);
        string? rejectedBy = null;
        var local = new List<(string Key, long Limit, TimeSpan Window)>();
        var localRules = new List<RateLimitTier>();
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            switch (rule.Policy.WhenRedisUnavailable)
            {
                case RateLimitFailureMode.FailClosed:
                    rejectedBy ??= rule.Policy.Name;
                    states.Add(new RateLimitPolicyState(rule.Policy, 0, options.BreakDuration));
                    break;
                case RateLimitFailureMode.LocalFallback:
                    local.Add(((string)keys[i]!, Math.Max(1, rule.Policy.PermitLimit / options.ExpectedInstanceCount), rule.Policy.Window));
                    localRules.Add(rule.Policy);
                    break;
            }
        }

        var retryAfter = rejectedBy is null ? TimeSpan.Zero : options.BreakDuration;
        var store = "none";
        if (rejectedBy is null && local.Count > 0)
        {
            store = "local";
            var localStates = new (long Remaining, TimeSpan Reset)[local.Count];
            if (!_local.TryAcquire(local.ToArray(), permits, options.MaxLocalFallbackKeys, localStates, out var localRetry))
            {
                retryAfter = localRetry;
                for (var i = 0; i < localStates.Length; i++)
                {
                    if (localStates[i].Remaining == 0)
                    {
                        rejectedBy ??= localRules[i].Name;
                    }
                }

                rejectedBy ??= localRules[0].Name;
            }

            for (var i = 0; i < localStates.Length; i++)
            {
                states.Add(new RateLimitPolicyState(localRules[i], Math.Min(localStates[i].Remaining, localRules[i].PermitLimit), localStates[i].Reset));
            }
        }

        var decision = new RateLimitDecision(rejectedBy is null, retryAfter, states, isDegraded: true, rejectedBy, 0);
        Record(check, decision, started, store, activity);
        return decision;
    }

    private void Record(RateLimitCheck check, RateLimitDecision decision, long started, string store, Activity? activity)
    {
        RateLimitActivities.Decided(activity, decision, store);
        _metrics.CheckDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("store", store));
        _metrics.Decisions.Add(
            1,
            new KeyValuePair<string, object?>("outcome", decision.IsAllowed ? "allowed" : "rejected"),
            new KeyValuePair<string, object?>("tier", check.Tier),
            new KeyValuePair<string, object?>("policy", decision.RejectedBy ?? string.Empty),
            new KeyValuePair<string, object?>("degraded", decision.IsDegraded));
    }

    /// <summary>
    /// Loads the script into every reachable server's script cache, so that the first checks (possibly many at once)
    /// do not all meet <c>NOSCRIPT</c>. Best effort: a server that is down is skipped; <c>NOSCRIPT</c> is handled anyway.
    /// </summary>
    private async Task PreloadScriptAsync(IConnectionMultiplexer connection, TimeSpan timeout)
    {
        foreach (var endPoint in connection.GetEndPoints())
        {
            try
            {
                var server = connection.GetServer(endPoint);
                if (server.IsConnected && !server.IsReplica)
                {
                    await server.ScriptLoadAsync(SlidingWindowScript.Source).WaitAsync(timeout).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                RateLimitLog.CheckFailed(_logger, "loading the script: " + ex.Message);
            }
        }
    }
}
