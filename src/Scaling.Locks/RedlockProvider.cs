using System.Diagnostics.Metrics;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Scaling.Locks;

/// <summary>
/// The Redlock algorithm over N independent Redis masters: <c>SET key value NX PX ttl</c> on every master
/// in parallel, held when a quorum (N/2+1) granted it with validity left (TTL − elapsed − clock drift),
/// released by compare-and-delete on every master, retried after random delays until the wait has passed.
/// </summary>
/// <remarks>
/// Each master has its own connection, made in the background: a master that is down at start-up, dies or
/// is paused costs each attempt at most <see cref="ScalingLocksOptions.NodeTimeout"/>, and locks keep being
/// granted while a quorum answers. A decision is taken as soon as it is certain (a quorum granted, or a
/// quorum can no longer be reached), so a slow master does not slow acquisitions down.
/// </remarks>
public sealed class RedlockProvider : IDistributedLockProvider, IAsyncDisposable, IDisposable
{
    private static readonly TimeSpan MinTtl = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan MaxTtl = TimeSpan.FromDays(24);
    private static readonly KeyValuePair<string, object?> AcquiredTag = new("outcome", "acquired");
    private readonly ScalingLocksOptions _options;
    private readonly IFencingTokenSource? _fencingTokens;
    private readonly RedisLockNode[] _nodes;
    private int _disposed;

    /// <summary>Creates the provider and starts connecting to every master in the background.</summary>
    /// <param name="options">The options (copied; later changes have no effect). Outside DI, wrap them with <c>Options.Create</c>.</param>
    /// <param name="fencingTokens">Where fencing tokens come from; <see langword="null"/> for none.</param>
    /// <param name="logger">The logger; <see langword="null"/> for none.</param>
    /// <param name="meterFactory">Creates the <c>Scaling.Locks</c> meter; <see langword="null"/> to create it directly.</param>
    /// <exception cref="OptionsValidationException"><paramref name="options"/> are not valid (each failure names the bad option).</exception>
    public RedlockProvider(IOptions<ScalingLocksOptions> options, IFencingTokenSource? fencingTokens = null, ILogger<RedlockProvider>? logger = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var value = options.Value;
        ArgumentNullException.ThrowIfNull(value, nameof(options));
        var failures = ScalingLocksOptionsValidator.Failures(value);
        if (failures.Count > 0)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(ScalingLocksOptions), failures);
        }

        _options = value.Clone();
        _fencingTokens = fencingTokens;
        Logger = logger ?? NullLogger<RedlockProvider>.Instance;
        Metrics = new LocksInstruments(meterFactory);
        _nodes = _options.ConnectionMultiplexerFactories.Count > 0
            ? [.. _options.ConnectionMultiplexerFactories.Select((f, i) => new RedisLockNode(f, i, _options, Logger))]
            : [.. _options.Endpoints.Select(e => new RedisLockNode(e, _options, Logger))];
        Quorum = RedlockTiming.Quorum(_nodes.Length);
    }

    internal ILogger Logger { get; }

    internal LocksInstruments Metrics { get; }

    internal int Quorum { get; }

    internal int Masters => _nodes.Length;

    /// <inheritdoc />
    public async Task<IDistributedLockHandle?> TryAcquireAsync(string resource, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default) =>
        (await TryAcquireDetailedAsync(resource, ttl, wait, cancellationToken).ConfigureAwait(false)).Handle;

    /// <inheritdoc />
    public async Task<IDistributedLockHandle> AcquireAsync(string resource, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        var result = await TryAcquireDetailedAsync(resource, ttl, wait, cancellationToken).ConfigureAwait(false);
        return result.Handle ?? throw new LockTimeoutException(resource, wait, result);
    }

    /// <inheritdoc />
    public async Task<LockAcquisition> TryAcquireDetailedAsync(string resource, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        LockResourceName.Validate(resource);
        ValidateTtl(ttl);
        ValidateWait(wait);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();

        var started = LockLease.Now();
        var key = (RedisKey)(_options.KeyPrefix + resource);
        var attempts = 0;
        string outcome = "failed";
        IReadOnlyList<LockNodeResult>? lastAnswers = null;
        using var activity = LocksActivities.Start(LocksActivities.AcquireSpan, resource, _nodes.Length, Quorum);
        try
        {
            while (true)
            {
                attempts++;
                var value = (RedisValue)RandomNumberGenerator.GetHexString(32, lowercase: true);
                var attemptStart = LockLease.Now();
                var round = await SetOnMastersAsync(key, value, ttl, cancellationToken).ConfigureAwait(false);
                lastAnswers = round.Nodes;
                var validity = RedlockTiming.Validity(ttl, LockLease.Now() - attemptStart);
                if (round.Granted >= Quorum && validity > TimeSpan.Zero)
                {
                    Metrics.Attempts.Add(1, new KeyValuePair<string, object?>("status", "acquired"));
                    var fencingToken = await TakeFencingTokenAsync(resource, key, value, round, cancellationToken).ConfigureAwait(false);
                    LocksActivities.FencingToken(activity, fencingToken);
                    var lease = new LockLease(this, resource, key, value, ttl, attemptStart, validity, fencingToken);
                    var handle = new RedlockHandle(lease, _options.AutoExtend);
                    var elapsed = LockLease.Now() - started;
                    outcome = "acquired";
                    LocksLog.Acquired(Logger, resource, attempts, elapsed.TotalMilliseconds, validity.TotalMilliseconds);
                    return new LockAcquisition(resource, LockAttemptStatus.Acquired, handle, round.Nodes, attempts, elapsed);
                }

                // Not held: a quorum did not grant it (or too late). Remove whatever was granted, everywhere.
                // Contended when another owner answered and the masters that did not fail could have made a quorum.
                var pending = round.Nodes.Count(n => n.Outcome == LockNodeOutcome.Pending);
                var status = round.Conflicted > 0 && round.Granted + round.Conflicted + pending >= Quorum ? LockAttemptStatus.Conflicted : LockAttemptStatus.NoQuorum;
                Metrics.Attempts.Add(1, new KeyValuePair<string, object?>("status", LocksInstruments.StatusTag(status)));
                if (status == LockAttemptStatus.Conflicted)
                {
                    Metrics.Contention.Add(1);
                }

                await ReleaseAfterAsync(round, key, value).ConfigureAwait(false);
                var spent = LockLease.Now() - started;
                if (wait != Timeout.InfiniteTimeSpan && spent >= wait)
                {
                    outcome = LocksInstruments.StatusTag(status);
                    LocksLog.NotAcquired(Logger, resource, attempts, spent.TotalMilliseconds, status, string.Join(", ", round.Nodes));
                    return new LockAcquisition(resource, status, null, round.Nodes, attempts, spent);
                }

                var delay = RetryDelay();
                if (wait != Timeout.InfiniteTimeSpan && delay > wait - spent)
                {
                    delay = wait - spent;
                }

                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (ActivityErrors.Record(activity, e))
        {
            throw;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            outcome = "cancelled";
            throw;
        }
        finally
        {
            Metrics.AcquireDuration.Record(
                (LockLease.Now() - started).TotalSeconds,
                outcome == "acquired" ? AcquiredTag : new KeyValuePair<string, object?>("outcome", outcome));
            LocksActivities.Finished(activity, outcome, attempts, lastAnswers);
        }
    }

    /// <summary>
    /// Closes the connections to every master that the provider made (the application's own multiplexers are left
    /// open). Locks still held are not released (they free themselves at their TTL).
    /// </summary>
    /// <returns>A task that completes when the connections are closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await Task.WhenAll(_nodes.Select(n => n.DisposeAsync().AsTask())).ConfigureAwait(false);
        Metrics.Dispose();
    }

    /// <summary>Closes the connections to every master (synchronously, for containers that dispose synchronously).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var node in _nodes)
        {
            node.Dispose();
        }

        Metrics.Dispose();
    }

    internal async Task<MastersRound> ExtendOnMastersAsync(RedisKey key, RedisValue value, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var round = MastersRound.Start(
            this, _nodes, _options.NodeTimeout, (node, _, expired) => node.ScriptAsync(extend: true, key, value, ttl, expired), cancellationToken);
        await round.DecidedAsync(cancellationToken).ConfigureAwait(false);
        return round;
    }

    /// <summary>
    /// Compare-and-delete on every master; returns once a majority has deleted the key (then no quorum can
    /// hold it for this owner any more, so others can acquire it), or once that can no longer happen. The
    /// other deletions finish in the background, bounded by the node timeout.
    /// </summary>
    internal async Task ReleaseOnAllMastersAsync(string resource, RedisKey key, RedisValue value)
    {
        using var activity = LocksActivities.Start(LocksActivities.ReleaseSpan, resource, _nodes.Length, Quorum);
        var round = MastersRound.Start(
            this, _nodes, _options.NodeTimeout, (node, _, expired) => node.ScriptAsync(extend: false, key, value, TimeSpan.Zero, expired), CancellationToken.None);
        await round.DecidedAsync(CancellationToken.None).ConfigureAwait(false);
        LocksActivities.Released(activity, round.Granted, Quorum);
        if (round.Granted < Quorum)
        {
            LocksLog.ReleaseIncomplete(Logger, resource, round.Granted, _nodes.Length);
        }
    }

    private static void ValidateTtl(TimeSpan ttl)
    {
        if (ttl < MinTtl || ttl > MaxTtl)
        {
            throw new ArgumentOutOfRangeException(
                nameof(ttl),
                ttl,
                string.Create(CultureInfo.InvariantCulture, $"A lock's time to live must be from 1 ms to 24 days; it was {ttl}."));
        }
    }

    private static void ValidateWait(TimeSpan wait)
    {
        if ((wait < TimeSpan.Zero && wait != Timeout.InfiniteTimeSpan) || wait > MaxTtl)
        {
            throw new ArgumentOutOfRangeException(
                nameof(wait),
                wait,
                string.Create(CultureInfo.InvariantCulture, $"The time to wait for a lock must be from zero (a single attempt) to 24 days, or Timeout.InfiniteTimeSpan; it was {wait}."));
        }
    }

    private async Task<MastersRound> SetOnMastersAsync(RedisKey key, RedisValue value, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var round = MastersRound.Start(this, _nodes, _options.NodeTimeout, (node, _, expired) => node.SetAsync(key, value, ttl, expired), cancellationToken);
        try
        {
            await round.DecidedAsync(cancellationToken).ConfigureAwait(false);
            return round;
        }
        catch (OperationCanceledException)
        {
            await ReleaseAfterAsync(round, key, value).ConfigureAwait(false);
            throw;
        }
    }

    private async Task<long?> TakeFencingTokenAsync(string resource, RedisKey key, RedisValue value, MastersRound round, CancellationToken cancellationToken)
    {
        if (_fencingTokens is null)
        {
            return null;
        }

        try
        {
            return await _fencingTokens.NextAsync(resource, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Without its token the holder could not write safely: give the lock back and report the failure.
            await ReleaseAfterAsync(round, key, value).ConfigureAwait(false);
            if (ex is not OperationCanceledException)
            {
                LocksLog.FencingTokenFailed(Logger, resource, ex);
            }

            throw;
        }
    }

    /// <summary>
    /// Compare-and-delete on every master, each after its own <c>SET</c> has finished (so a late grant is
    /// removed too), waiting for every answer at most the node timeout: masters that did not answer free the
    /// key at its TTL (the lock was not granted, so that is safe).
    /// </summary>
    private async Task ReleaseAfterAsync(MastersRound setRound, RedisKey key, RedisValue value)
    {
        var release = MastersRound.Start(
            this,
            _nodes,
            _options.NodeTimeout,
            (node, i, expired) => setRound.Commands[i].IsCompleted
                ? node.ScriptAsync(extend: false, key, value, TimeSpan.Zero, expired)
                : setRound.Commands[i].ContinueWith(
                    _ => node.ScriptAsync(extend: false, key, value, TimeSpan.Zero, expired),
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default).Unwrap(),
            CancellationToken.None,
            waitForAll: true);
        await release.DecidedAsync(CancellationToken.None).ConfigureAwait(false);
    }

    private TimeSpan RetryDelay()
    {
        var min = _options.MinRetryDelay.Ticks;
        var max = _options.MaxRetryDelay.Ticks;
        var spreadMicros = (int)Math.Min((max - min) / 10, int.MaxValue - 1);
        return TimeSpan.FromTicks(min + (RandomNumberGenerator.GetInt32(spreadMicros + 1) * 10L));
    }
}
